-- expect: invalid_result
-- phase: load
-- message: must return a table, got number
-- why: a chunk that returns a number is not a policy
return 42
