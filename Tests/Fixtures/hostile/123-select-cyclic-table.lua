-- expect: invalid_result
-- phase: decide
-- message: appears more than once
-- why: a result that contains itself must not send the exporter round forever
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx)
    local t = { 'a' }
    t[2] = t
    return t
  end,
}
