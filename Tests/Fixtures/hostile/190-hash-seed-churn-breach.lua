-- expect: memory_budget
-- phase: decide
-- costs: nondeterministic
-- message: memory budget exhausted
-- why: KNOWN LIMITATION (docs/policies.md, Determinism): a sliding window of string keys makes the table rehash at points set by Lua's per-state string hash seed, so the instruction count at which the memory cap is hit varies between processes; the outcome is memory_budget every time
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local cache, W, i = {}, 1000, 0
    while true do
      i = i + 1
      cache['k' .. i] = i
      if i > W then cache['k' .. (i - W)] = nil end
    end
  end,
}
