-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: allocating and dropping 10 KB strings forever never grows live memory; each string is charged by its length when it is made, so the count ends it (the cumulative allocation cap is the second line, PolicySandboxTests)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local base, n = ('x'):rep(10000), 0
    while true do
      local s = base .. n
      n = n + 1
    end
  end,
}
