-- expect: invalid_result
-- phase: decide
-- message: larger than the policy's memory budget
-- why: select returns one 16 KB string 1,000 times: 16 KB of the policy's memory, 16 MB once exported; a result may be no larger than the memory budget, so the host's export and decoding stay in proportion to it
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return 1 end,
  select = function(ranked, ctx)
    local big = ('x'):rep(16000)
    local out = {}
    for i = 1, 1000 do out[i] = big end
    return out
  end,
}
