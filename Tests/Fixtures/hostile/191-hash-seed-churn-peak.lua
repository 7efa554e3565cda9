-- expect: ok
-- phase: decide
-- costs: nondeterministic
-- chosen: d,b,a
-- why: KNOWN LIMITATION (docs/policies.md, Determinism): the same churn below the cap: the decision is identical everywhere, the reported peak memory varies by a few bytes with the hash seed
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
