-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: string.format('%s%s%s') of three 10 KB strings builds a string over the longest-string cap
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = ('x'):rep(10000)
    return #string.format('%s%s%s', s, s, s)
  end,
}
