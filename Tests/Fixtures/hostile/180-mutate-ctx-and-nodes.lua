-- expect: ok
-- phase: decide
-- chosen: d
-- why: a policy may scribble on ctx and node tables; the inputs are rebuilt for every evaluation, so the result is the same every run
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
