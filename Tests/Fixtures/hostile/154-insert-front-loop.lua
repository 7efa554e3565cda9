-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: inserting at the front shifts the whole array each time: charged per element
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    for i = 1, 30000 do t[i] = i end
    while true do table.insert(t, 1, 0) table.remove(t) end
  end,
}
