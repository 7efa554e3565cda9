-- expect: runtime_error
-- phase: decide
-- message: stack overflow
-- why: table.sort whose comparator sorts again recursively reaches the C-stack limit and errors cleanly
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local function cmp(a, b) table.sort({ 3, 2, 1 }, cmp) return a < b end
    table.sort({ 3, 2, 1 }, cmp)
    return 1
  end,
}
