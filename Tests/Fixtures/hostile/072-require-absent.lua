-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'require')
-- why: require loads modules and native code
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local os = require('os')
    return 1
  end,
}
