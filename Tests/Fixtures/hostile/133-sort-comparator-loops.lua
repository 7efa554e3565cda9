-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: an endless comparator is still under the count hook
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    table.sort({ 3, 1, 2 }, function(a, b) while true do end end)
    return 1
  end,
}
