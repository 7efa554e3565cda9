-- expect: runtime_error
-- phase: decide
-- message: at most 256 results
-- why: passing 28,000 varargs along (f(...)) copies them in one VM instruction: the sources of many values (unpack, string.byte) return at most 256
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    for i = 1, 28000 do t[i] = i end
    local function sink(...) return 1 end
    local function pump(...) while true do sink(...) end end
    return pump(table.unpack(t))
  end,
}
