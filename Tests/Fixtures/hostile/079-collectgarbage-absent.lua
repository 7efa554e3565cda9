-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'collectgarbage')
-- why: collectgarbage exposes and steers GC state (count, stop, step)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local kb = collectgarbage('count')
    return 1
  end,
}
