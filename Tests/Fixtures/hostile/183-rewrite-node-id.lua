-- expect: ok
-- phase: decide
-- engine: invalid_result
-- chosen: d,d,d
-- why: filter rewrites node.id so every candidate claims to be 'd': chosen holds duplicates the engine must refuse
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx) node.id = 'd' return true end,
  score = function(node, ctx) return node.cpu end,
}
