-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: ("x"):rep(n) goes through the string metatable, which must point at the capped rep
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #("x"):rep(1e12) end,
}
