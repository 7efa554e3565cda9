-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: the same churn below the cap: the decision and its peak memory are identical everywhere (one hash seed in every state)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local cache, W = {}, 37
    for i = 1, 20000 do
      cache['k' .. i] = i
      if i > W then cache['k' .. (i - W)] = nil end
    end
    return node.cpu
  end,
}
