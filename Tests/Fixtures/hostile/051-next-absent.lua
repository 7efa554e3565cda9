-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (global 'next')
-- why: next exposes the same hash order as pairs
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) local k = next(node) return #k end,
}
