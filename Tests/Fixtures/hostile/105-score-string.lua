-- expect: invalid_result
-- phase: decide
-- message: score must return a number
-- why: a numeric string is still not a number
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return '1.5' end,
}
