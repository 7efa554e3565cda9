-- expect: ok
-- phase: decide
-- chosen: d,c,b
-- why: a global counter kept across hook calls is deterministic within one fresh state
calls = 0
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    calls = (calls or 0) + 1
    return calls * 10 - node.cpu
  end,
}
