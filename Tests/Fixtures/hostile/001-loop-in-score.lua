-- expect: instruction_budget
-- phase: decide
-- message: in score (node a)
-- why: an endless loop inside score must be stopped by the count hook
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    while true do end
  end,
}
