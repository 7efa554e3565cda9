-- expect: runtime_error
-- phase: decide
-- why: table.unpack(t, mininteger, maxinteger) must not wrap the count
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return select('#', table.unpack({}, math.mininteger, math.maxinteger)) end,
}
