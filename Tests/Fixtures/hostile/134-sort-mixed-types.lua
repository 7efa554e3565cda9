-- expect: runtime_error
-- phase: decide
-- message: attempt to compare
-- why: sorting numbers and strings without a comparator is a comparison error
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    table.sort({ 1, 'x', 2 })
    return 1
  end,
}
