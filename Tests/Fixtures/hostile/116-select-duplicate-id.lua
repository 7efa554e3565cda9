-- expect: ok
-- phase: decide
-- engine: invalid_result
-- why: select names the same node twice
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx) return { ranked[1].id, ranked[1].id } end,
}
