-- expect: runtime_error
-- phase: decide
-- message: attempt to index a nil value (global 'debug')
-- why: debug.sethook(nil) would switch the budget off
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    debug.sethook()
    return 1
  end,
}
