-- expect: invalid_result
-- phase: decide
-- message: must be finite
-- why: dividing by a zero float gives inf, which is refused as a score
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu / (node.gpu - node.gpu) end,
}
