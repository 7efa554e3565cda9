-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: one string.format call with 30 float conversions of 99 digits each is charged per conversion, not only by its output, so a loop of such calls ends at the budget
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local format = ('%.99f'):rep(30)
    local values = {}
    for i = 1, 30 do values[i] = 1e308 end
    local n = 0
    while true do n = n + #string.format(format, table.unpack(values)) end
  end,
}
