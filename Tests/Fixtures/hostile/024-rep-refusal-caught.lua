-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: catching the refused string.rep with pcall must not let the policy carry on
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local ok = pcall(string.rep, 'x', 1e12)
    if not ok then return 1 end
    return 2
  end,
}
