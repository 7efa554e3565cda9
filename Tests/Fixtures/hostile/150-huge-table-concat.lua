-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: table.concat of 100,000 40-byte strings builds a 4 MB string, over the largest-allocation cap
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = {}
    for i = 1, 100000 do t[i] = '0123456789012345678901234567890123456789' end
    return #table.concat(t)
  end,
}
