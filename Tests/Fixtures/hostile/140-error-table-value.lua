-- expect: runtime_error
-- phase: decide
-- message: error object is not a string
-- why: error with a table value is a runtime error with a placeholder message
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) error({ code = 42 }) end,
}
