-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: pcall inside a loop catches the budget error; the sticky hook must fail every later instruction
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    while true do
      pcall(function() while true do end end)
    end
  end,
}
