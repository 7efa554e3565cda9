-- expect: ok
-- phase: decide
-- chosen: d,a,b
-- why: tostring({}) and tostring(function) print the type name only, so a choice derived from them is the same everywhere
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local a, f = tostring({}), tostring(function() end)
    assert(a == 'table' and f == 'function', a .. ' ' .. f)
    return (hash64(a .. f .. node.id) % 1000) / 1000
  end,
}
