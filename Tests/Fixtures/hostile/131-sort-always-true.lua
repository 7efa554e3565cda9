-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: a comparator that always answers true (a < b and b < a) must neither error nor vary
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = { 5, 3, 9, 1, 7, 2, 8 }
    table.sort(t, function(a, b) return true end)
    return t[1] * 10 + t[7] + node.cpu
  end,
}
