-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'print')
-- why: print writes to the host's stdout
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    print('hello')
    return 1
  end,
}
