-- expect: ok
-- phase: decide
-- chosen: b,d,a
-- why: math.random() without a seed is seeded from ctx.seed per decision, so the chosen nodes repeat exactly
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return math.random() + math.random(1, 6) end,
}
