-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: comparing two equal 400 KB strings is one VM instruction but a 400 KB memcmp: it must cost more than one instruction
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local a = ('x'):rep(400000)
    local b = ('x'):rep(399999) .. 'x'
    local n = 0
    while true do if a == b then n = n + 1 end end
  end,
}
