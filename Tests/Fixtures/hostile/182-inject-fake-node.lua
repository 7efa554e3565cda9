-- expect: ok
-- phase: decide
-- engine: invalid_result
-- chosen: invented,b,a
-- why: filter replaces a node in ctx.nodes with an invented one; the driver scores it and select may choose it; the engine must check ids against its own node list
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
