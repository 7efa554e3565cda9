-- expect: runtime_error
-- phase: decide
-- message: attempt to index a nil value (global 'coroutine')
-- why: coroutines carry upstream crashes (coroutine.close) and separate hook state
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local co = coroutine.wrap(function() end)
    return 1
  end,
}
