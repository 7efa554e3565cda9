-- expect: invalid_result
-- phase: decide
-- message: got -inf
-- why: -inf is not a finite score
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return -math.huge end,
}
