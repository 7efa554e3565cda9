-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: string.rep('', 1e9, ',') builds a 1 GB string out of separators alone
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #string.rep('', 1e9, ',') end,
}
