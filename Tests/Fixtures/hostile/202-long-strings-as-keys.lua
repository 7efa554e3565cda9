-- expect: instruction_budget
-- phase: decide
-- message: instruction budget of
-- why: making 16 KB strings and hashing them as keys is work inside single instructions; each string is charged by its length when it is made, so the count ends the run, not the CPU-time safety net
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  budget = { instructions = 40000, memory = 67108864 },
  score = function(node, ctx)
    local s = string.rep("x", 16378)
    for i = 1000, 9999 do local u = {}; u[s .. i] = true end
    return 1
  end,
}
