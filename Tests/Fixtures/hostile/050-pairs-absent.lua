-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'pairs')
-- why: pairs iterates string keys in a per-process hash order; it is removed
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = 0
    for k, v in pairs(node) do s = s + #k end
    return s
  end,
}
