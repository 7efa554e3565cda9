-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: spairs is the deterministic replacement: the first key of a node is always 'capacity' and scores derived from key order are stable
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local order, i = {}, 0
    for k, v in spairs(node) do i = i + 1 order[i] = k end
    assert(order[1] == 'capacity' and order[#order] == 'zone', 'spairs order')
    return #table.concat(order, ',') + node.cpu
  end,
}
