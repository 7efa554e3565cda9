-- expect: instruction_budget
-- phase: decide
-- message: in select
-- why: a counted loop of 2^63 iterations in select is as endless as while true
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx)
    local n = 0
    for i = 1, math.maxinteger do n = n + i end
    return { ranked[1].id }
  end,
}
