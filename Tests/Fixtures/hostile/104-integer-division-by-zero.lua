-- expect: runtime_error
-- phase: decide
-- message: attempt to divide by zero
-- why: integer division by zero is a Lua error, not inf
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.capacity // (node.used - node.used) end,
}
