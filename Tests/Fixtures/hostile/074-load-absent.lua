-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'load')
-- why: load compiles new code, possibly binary chunks, with a fresh environment
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local f = load('return os')
    return 1
  end,
}
