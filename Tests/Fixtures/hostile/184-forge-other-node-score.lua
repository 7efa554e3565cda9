-- expect: ok
-- phase: decide
-- engine: invalid_result
-- chosen: c,d,b
-- why: score for a later node rewrites an earlier node's ranked score; ranking follows the forged value but the verdicts keep the originals
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    if node.id == 'd' then ctx.nodes[3].score = 1000 end
    return node.cpu
  end,
}
