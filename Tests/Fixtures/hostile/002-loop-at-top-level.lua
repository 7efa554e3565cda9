-- expect: instruction_budget
-- phase: load
-- message: at top level
-- why: an endless loop while the file is loaded must be stopped before the policy table exists
local n = 0
while true do n = n + 1 end
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
