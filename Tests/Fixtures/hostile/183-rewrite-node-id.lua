-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: filter rewrites node.id so every candidate claims to be 'd'; the driver ranks and chooses by the host's ids captured before any hook ran
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx) node.id = 'd' return true end,
  score = function(node, ctx) return node.cpu end,
}
