-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: a sliding window of string keys makes the table rehash at points set by string hashes: with one hash seed in every state, the instruction count at which the memory cap is hit is the same everywhere
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
