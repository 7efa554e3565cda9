-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'rawset')
-- why: rawset bypasses nothing useful here but is not in API level 1
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    rawset(ctx, 'want', 99)
    return 1
  end,
}
