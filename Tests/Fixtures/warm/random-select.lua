-- API level 2, a select that draws random numbers and keeps picks in a global across its passes: the
-- random generator and the globals start again with every decision.
return {
  name = "warm-random", version = 1, api = 2,
  filter = function(node, ctx) return node.capacity > 0, "zero capacity" end,
  score = function(node, ctx) return node.capacity, { capacity = node.capacity }, node.cpu end,
  select = function(ctx)
    picked = picked or {}
    local chosen = {}
    for node in ctx.candidates() do
      if #chosen >= ctx.want then break end
      if not picked[node.id] and math.random(1, 4) ~= 1 then
        picked[node.id] = true
        chosen[#chosen + 1] = node.id
      end
    end
    return chosen
  end,
}
