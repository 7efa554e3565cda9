-- expect: runtime_error
-- phase: load
-- message: non-closable value
-- why: a to-be-closed variable needs a __close metamethod, which no value a policy can make has
local guard <close> = 'not closable'
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
