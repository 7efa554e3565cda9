-- expect: invalid_result
-- phase: decide
-- why: 500 references to one 1,000-key table cost 0.03 MB inside the budget but half a million exported entries outside it; a result must be a tree of bounded size
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx)
    local row = {}
    for i = 1, 1000 do row['k' .. i] = i end
    local out = {}
    for i = 1, 500 do out[i] = row end
    return out
  end,
}
