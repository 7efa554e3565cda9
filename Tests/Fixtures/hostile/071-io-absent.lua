-- expect: runtime_error
-- phase: load
-- message: attempt to index a nil value (global 'io')
-- why: io would read files; tried at top level
local f = io.open('/etc/passwd')
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
