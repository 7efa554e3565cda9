-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: comparing two equal 16 KB strings (the longest allowed) is one VM instruction but a 16 KB memcmp: an endless loop of it must still end fast
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local a = ('x'):rep(16000)
    local b = ('x'):rep(15999) .. 'x'
    local n = 0
    while true do if a == b then n = n + 1 end end
  end,
}
