-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: score for node d rewrites node c's score field; ranking must follow the scores the hooks returned, not fields a later hook can forge
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    if node.id == 'd' then ctx.nodes[3].score = 1000 end
    return node.cpu
  end,
}
