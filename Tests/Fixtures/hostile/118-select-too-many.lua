-- expect: ok
-- phase: decide
-- engine: invalid_result
-- why: select returns all four candidates when ctx.want is 3
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx)
    local ids = {}
    for i, node in ipairs(ranked) do ids[i] = node.id end
    return ids
  end,
}
