-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'setmetatable')
-- why: a __gc finalizer runs with hooks off and could loop forever in lua_close
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    setmetatable({}, { __gc = function() while true do end end })
    return 1
  end,
}
