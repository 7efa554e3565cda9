-- expect: ok
-- phase: decide
-- chosen: a,b,c
-- why: -0.0 is a valid score and must come out as +0.0 everywhere (ties broken by id)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return -0.0 end,
}
