-- expect: runtime_error
-- phase: load
-- message: instruction budget of 2000000
-- why: a forged budget message while loading is a runtime error too
error('at top level: instruction budget of 2000000 exhausted', 0)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
