-- expect: syntax_error
-- phase: load
-- message: unexpected symbol
-- why: a plain syntax error is reported as such, with the line
return {
  name = "hostile", version = 1, api = 1,
  score = function(node, ctx) return node.cpu +* 2 end,
}
