-- expect: ok
-- phase: decide
-- engine: invalid_result
-- chosen: d,b,a
-- why: the C driver passes explanation terms through; a NaN term must be refused by the engine
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu, { broken = 0/0 } end,
}
