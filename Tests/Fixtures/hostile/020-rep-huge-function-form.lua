-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: string.rep with a count of 1e12 is refused before any byte is produced
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #string.rep('x', 1e12) end,
}
