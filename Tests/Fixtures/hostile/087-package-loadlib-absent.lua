-- expect: runtime_error
-- phase: decide
-- message: attempt to index a nil value (global 'package')
-- why: package.loadlib loads native code
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    package.loadlib('libc.so.6', 'system')
    return 1
  end,
}
