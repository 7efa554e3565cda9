-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: table.unpack of 500,000 values needs an 8 MB stack, over the memory caps
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return select('#', table.unpack({}, 1, 500000)) end,
}
