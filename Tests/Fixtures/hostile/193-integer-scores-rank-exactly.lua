-- expect: ok
-- phase: decide
-- chosen: c,b,a
-- why: integer scores above 2^53 rank as integers (2^62 + 2 > 2^62 + 1 > 2^62), and an integer equal to a float ties with it and falls back to id order; compared as doubles all four would tie and a,b,c would win
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local scores = { a = 1 << 62, b = (1 << 62) + 1, c = (1 << 62) + 2, d = 2.0 ^ 62 }
    return scores[node.id]
  end,
}
