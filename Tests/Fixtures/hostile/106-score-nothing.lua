-- expect: invalid_result
-- phase: decide
-- message: got nil
-- why: a score function that returns nothing gives nil
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) local s = node.cpu end,
}
