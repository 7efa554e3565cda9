-- expect: invalid_result
-- phase: decide
-- message: got nil
-- why: a filter that forgets to return gives nil, not false
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx) local ok = node.free > 0 end,
  score = function(node, ctx) return node.cpu end,
}
