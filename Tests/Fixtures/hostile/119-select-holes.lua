-- expect: ok
-- phase: decide
-- engine: invalid_result
-- why: an array with a hole is exported as a map with integer keys
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx) return { 'a', nil, 'c' } end,
}
