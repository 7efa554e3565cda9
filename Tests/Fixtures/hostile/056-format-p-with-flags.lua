-- expect: runtime_error
-- phase: decide
-- message: %p is not available
-- why: flags and width in front of p ('%-20p') must not sneak past the %p refusal
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #string.format('%%|%-20p', {}) end,
}
