-- expect: ok
-- phase: decide
-- engine: invalid_result
-- chosen: d,b,a
-- why: terms must map names to numbers; strings and nested tables are for the engine to refuse
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu, { why = 'because', nested = { 1 } } end,
}
