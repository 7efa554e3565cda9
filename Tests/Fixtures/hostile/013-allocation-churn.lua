-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: allocating and dropping 10 KB strings forever never grows live memory but exhausts the cumulative allocation cap
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
