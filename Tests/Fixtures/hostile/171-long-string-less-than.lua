-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: a < b on 16 KB strings that differ only at the end scans both strings in C (strcoll)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local a = ('x'):rep(15999) .. 'a'
    local b = ('x'):rep(15999) .. 'b'
    local n = 0
    while true do if a < b then n = n + 1 end end
  end,
}
