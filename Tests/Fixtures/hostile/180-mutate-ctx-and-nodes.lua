-- expect: ok
-- phase: decide
-- chosen: d,b,c
-- why: a policy may scribble on ctx and node tables (even ctx.want); the driver captured the host's view before any hook ran, so the decision is unchanged
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx)
    ctx.want = 1
    ctx.params.extra = (ctx.params.extra or 0) + 1
    node.cpu = node.cpu * 2
    ctx.chunk = nil
    return true
  end,
  score = function(node, ctx) return node.cpu + ctx.params.extra end,
}
