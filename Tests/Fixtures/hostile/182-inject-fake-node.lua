-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: filter replaces a node in ctx.nodes with an invented one; the driver keeps the host's ids, so the invented id can never be chosen
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx)
    if node.id == 'a' then
      ctx.nodes[4] = { id = 'invented', eligible = true, cpu = 1e9, free = 1, status = 'active' }
    end
    return true
  end,
  score = function(node, ctx) return node.cpu end,
}
