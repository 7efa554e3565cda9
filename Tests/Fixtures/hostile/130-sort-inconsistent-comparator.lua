-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: a comparator that is not an order (non-transitive, asymmetric) still gives one fixed result with the stable merge sort
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    for i = 1, 200 do t[i] = (i * 7919) % 211 end
    table.sort(t, function(a, b) return (a * 31 + b * 17) % 7 < 3 end)
    local h = 0
    for i = 1, #t do h = (h * 131 + t[i]) % 1000003 end
    return h + node.cpu
  end,
}
