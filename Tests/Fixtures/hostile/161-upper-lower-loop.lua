-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: upper/lower/reverse of 16 KB strings are charged by length
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = ('x'):rep(16000)
    while true do s = s:upper():lower():reverse() end
  end,
}
