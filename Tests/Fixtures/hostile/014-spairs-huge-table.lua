-- expect: memory_budget
-- phase: load
-- why: spairs over a 60,000-key table needs a key index larger than the largest-allocation cap
local t = {}
for i = 1, 60000 do t[i * 2] = i end
local n = 0
for k in spairs(t) do n = n + 1 end
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
