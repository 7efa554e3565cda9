-- expect: instruction_budget
-- phase: decide
-- why: recursion through pcall hits the C-stack limit, each level catches it and recurses again: exponential work, stopped by the budget
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local function f() pcall(f) pcall(f) end
    f()
    return 1
  end,
}
