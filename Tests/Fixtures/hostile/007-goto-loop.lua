-- expect: instruction_budget
-- phase: load
-- why: a goto loop at top level is a loop like any other
::again::
goto again
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
}
