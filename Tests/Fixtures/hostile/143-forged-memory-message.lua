-- expect: runtime_error
-- phase: decide
-- message: not enough memory
-- why: a forged out-of-memory message ('not enough memory') is not a memory breach
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) error('not enough memory', 0) end,
}
