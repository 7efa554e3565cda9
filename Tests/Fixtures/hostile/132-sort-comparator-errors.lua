-- expect: runtime_error
-- phase: decide
-- message: comparator refused
-- why: an error inside the comparator propagates as a runtime error
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    table.sort({ 3, 1, 2 }, function(a, b) error('comparator refused ' .. a) end)
    return 1
  end,
}
