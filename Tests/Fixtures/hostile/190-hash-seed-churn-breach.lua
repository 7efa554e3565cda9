-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: a sliding-window cache of string keys, run until the cumulative cap: rehash points depend on Lua's per-state string hash seed, so where the budget runs out must not
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local cache, W = {}, 20
    local prefix = ('p'):rep(300)
    local i = 0
    while true do
      i = i + 1
      cache[prefix .. i] = true
      if i > W then cache[prefix .. (i - W)] = nil end
    end
  end,
}
