-- expect: instruction_budget
-- phase: decide
-- message: in filter (node a)
-- why: an endless repeat-until in filter is reported with the hook and the node
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  filter = function(node, ctx)
    repeat until false
  end,
  score = function(node, ctx) return node.cpu end,
}
