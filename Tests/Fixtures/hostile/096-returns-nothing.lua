-- expect: invalid_result
-- phase: load
-- message: got nil
-- why: a chunk that returns nothing is not a policy
local policy = { name = 'forgot-return', version = 1, api = 1, score = function() return 1 end }
