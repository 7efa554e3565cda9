-- expect: invalid_result
-- phase: decide
-- message: filter must return a boolean
-- why: filter must answer with a boolean, not a truthy number
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx) return 1 end,
  score = function(node, ctx) return node.cpu end,
}
