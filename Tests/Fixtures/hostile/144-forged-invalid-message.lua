-- expect: runtime_error
-- phase: decide
-- message: got nan
-- why: forging the driver's own invalid-result text does not make it an invalid result
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) error('score must be finite for node a, got nan', 0) end,
}
