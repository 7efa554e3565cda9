-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: string.rep('', 1e12) produces nothing but loops 1e12 times in C: it is charged per repetition
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #string.rep('', 1e12) end,
}
