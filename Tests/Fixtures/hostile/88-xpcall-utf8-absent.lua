-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'xpcall')
-- why: xpcall and utf8 are outside API level 1
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    xpcall(function() end, function() end)
    return 1
  end,
}
