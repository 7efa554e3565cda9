-- expect: memory_budget
-- phase: load
-- message: at top level: memory budget
-- why: doubling a string while loading fails on the largest-allocation cap
local s = 'hostile'
for i = 1, 64 do s = s .. s end
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
