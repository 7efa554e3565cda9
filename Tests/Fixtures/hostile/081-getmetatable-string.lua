-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'getmetatable')
-- why: getmetatable('') would hand out the string metatable to tamper with
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    getmetatable('').__index = {}
    return 1
  end,
}
