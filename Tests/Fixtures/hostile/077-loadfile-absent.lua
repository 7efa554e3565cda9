-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'loadfile')
-- why: loadfile reads a file from disk
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local f = loadfile('/etc/passwd')
    return 1
  end,
}
