-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: spairs over a table that once held 30,000 keys walks every slot: it is charged by slots, not by the one key left
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    for i = 1, 30000 do t['k' .. i] = i end
    for i = 2, 30000 do t['k' .. i] = nil end
    local n = 0
    while true do for k, v in spairs(t) do n = n + v end end
  end,
}
