-- expect: instruction_budget
-- phase: decide
-- why: an endless proper tail call never grows the stack, so only the instruction budget can stop it
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local function f(n) return f(n + 1) end
    return f(1)
  end,
}
