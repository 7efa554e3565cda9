-- expect: ok
-- phase: decide
-- engine: invalid_result
-- why: select returns node tables and numbers instead of ids
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx) return { ranked[1], 2 } end,
}
