-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: string.format('%s', t) prints 'table', never an address
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = string.format('%s|%10s|%s', {}, function() end, node.id)
    assert(s == 'table|  function|' .. node.id, s)
    return #s + node.cpu
  end,
}
