-- expect: runtime_error
-- phase: decide
-- message: error object is not a string
-- why: assert(false, {}) raises a table value
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) assert(false, {}) end,
}
