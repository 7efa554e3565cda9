-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'rawget')
-- why: rawget is not in API level 1
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local w = rawget(ctx, 'want')
    return 1
  end,
}
