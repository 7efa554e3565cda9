-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (field 'dump')
-- why: string.dump produces bytecode, the door to crafted binary chunks
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local b = string.dump(function() end)
    return 1
  end,
}
