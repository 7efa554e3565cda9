-- expect: runtime_error
-- phase: load
-- message: attempt to index a nil value (global '_G')
-- why: _G would be a way back to the real globals
local real = _G.os
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
