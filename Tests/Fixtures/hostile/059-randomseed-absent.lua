-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (field 'randomseed')
-- why: math.randomseed is host-only: a policy cannot reseed from anything non-deterministic
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) math.randomseed(42) return math.random() end,
}
