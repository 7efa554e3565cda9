-- expect: runtime_error
-- phase: decide
-- message: number has no integer representation
-- why: string.rep with math.huge as the count is an argument error, not a hang
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #string.rep('x', math.huge) end,
}
