-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: joining two 10 KB strings with .. makes a string over the longest-string cap; the VM's concat is refused like string.rep
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local a = ('x'):rep(10000)
    local b = a .. a
    return #b
  end,
}
