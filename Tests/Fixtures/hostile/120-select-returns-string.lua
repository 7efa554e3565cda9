-- expect: ok
-- phase: decide
-- engine: invalid_result
-- why: select must return an array, not one id
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx) return 'a' end,
}
