-- expect: invalid_result
-- phase: decide
-- message: got nan
-- why: a NaN score cannot be ranked
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return 0/0 end,
}
