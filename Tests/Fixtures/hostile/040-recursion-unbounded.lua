-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: unbounded non-tail recursion grows the Lua stack until the memory caps stop it (observed: memory_budget with an 8 MiB budget)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local function f(n) return 1 + f(n + 1) end
    return f(1)
  end,
}
