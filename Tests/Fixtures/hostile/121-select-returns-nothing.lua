-- expect: ok
-- phase: decide
-- engine: invalid_result
-- why: select that returns nothing leaves chosen absent
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx) end,
}
