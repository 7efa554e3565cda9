-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: a table that grows without bound hits the memory budget, not the host's memory
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    while true do t[#t + 1] = { node.id } end
  end,
}
