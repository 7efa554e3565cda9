-- expect: runtime_error
-- phase: decide
-- message: %p is not available
-- why: string.format('%p', x) prints an address; it is refused
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #string.format('%p', node) end,
}
