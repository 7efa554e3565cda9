-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'loadstring')
-- why: loadstring is the 5.1 spelling of load
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local f = loadstring('return 1')
    return 1
  end,
}
