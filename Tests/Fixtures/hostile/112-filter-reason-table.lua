-- expect: invalid_result
-- phase: decide
-- message: reason must be a string
-- why: a rejection reason must be a string
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx) return false, { why = 'no' } end,
  score = function(node, ctx) return node.cpu end,
}
