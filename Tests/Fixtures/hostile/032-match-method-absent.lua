-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (method 'match')
-- why: the method form ("x"):match goes through the locked string metatable, which has no match
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return tonumber(node.id:match('%d+')) or 0 end,
}
