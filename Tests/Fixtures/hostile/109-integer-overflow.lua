-- expect: ok
-- phase: decide
-- chosen: c,b,d
-- why: integer arithmetic wraps around deterministically; it is not an error
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local x = math.maxinteger + node.capacity          -- wraps negative
    local y = math.mininteger // -1                     -- wraps to mininteger
    local z = (math.maxinteger * 3) % 1000
    assert(y == math.mininteger)
    return (x % 997) + z + node.cpu
  end,
}
