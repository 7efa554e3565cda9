-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: passing 16,000 varargs along (f(...)) copies them in one VM instruction: unbounded work per instruction
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    for i = 1, 16000 do t[i] = i end
    local function sink(...) return 1 end
    local function pump(...) while true do sink(...) end end
    return pump(table.unpack(t))
  end,
}
