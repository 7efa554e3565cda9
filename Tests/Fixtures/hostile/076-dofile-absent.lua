-- expect: runtime_error
-- phase: load
-- message: attempt to call a nil value (global 'dofile')
-- why: dofile reads and runs a file from disk
dofile('/etc/passwd')
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
