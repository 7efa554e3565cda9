-- expect: runtime_error
-- phase: decide
-- engine: invalid_result
-- message: attempt to call a nil value
-- why: a declaration without score fails when a decision calls it (the engine should refuse it at load)
return { name = "no-score", version = 1, api = 1 }
