-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: table.sort of strings made of NUL bytes compares them piece by piece in C: charged per piece, so sorting them forever ends at the budget
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    for i = 1, 64 do t[i] = ('\0'):rep(16000) .. string.char(65 + i % 26) end
    while true do table.sort(t) end
  end,
}
