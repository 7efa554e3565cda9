-- expect: runtime_error
-- phase: decide
-- message: keys must be numbers or strings
-- why: spairs refuses keys it cannot order (a table used as a key)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    for k in spairs({ [{}] = 1 }) do end
    return 1
  end,
}
