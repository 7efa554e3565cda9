-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: string.byte(s, 1, n) pushes n results in C: it must be charged per result
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = ('x'):rep(6000)
    while true do string.byte(s, 1, 6000) end
  end,
}
