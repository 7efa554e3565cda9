-- expect: invalid_result
-- phase: decide
-- message: got table
-- why: a table is not a score
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return { node.cpu } end,
}
