-- expect: runtime_error
-- phase: decide
-- why: error() with no value at all is still a runtime error
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) error() end,
}
