-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: the same churn for a fixed count must report the same peak memory in every fresh state
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local cache, W = {}, 100
    for i = 1, 20000 do
      cache['k' .. i] = i
      if i > W then cache['k' .. (i - W)] = nil end
    end
    return node.cpu
  end,
}
