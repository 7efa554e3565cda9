-- expect: invalid_result
-- phase: decide
-- message: nested deeper than 32
-- why: a result nested 40 levels deep is refused by the exporter (limit 32)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return node.cpu end,
  select = function(ranked, ctx)
    local t = { 'a' }
    for i = 1, 40 do t = { t } end
    return t
  end,
}
