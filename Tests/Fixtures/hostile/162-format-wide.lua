-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: string.format with a huge %s argument repeated builds a string over the cap
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = ('x'):rep(1000000)
    return #string.format('%s%s%s', s, s, s)
  end,
}
