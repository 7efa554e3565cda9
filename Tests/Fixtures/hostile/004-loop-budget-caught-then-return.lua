-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: catching the budget error with pcall and returning a normal score must not turn exhaustion into success
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local ok, err = pcall(function() local i = 0 while true do i = i + 1 end end)
    return 1
  end,
}
