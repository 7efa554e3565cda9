-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'xpcall')
-- why: xpcall is outside API level 1 (only pcall is given)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    xpcall(function() end, function() end)
    return 1
  end,
}
