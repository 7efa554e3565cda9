-- expect: runtime_error
-- phase: decide
-- message: at most 256 results
-- why: table.unpack of 500,000 values would copy them all in C: unpack returns at most 256 values
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return select('#', table.unpack({}, 1, 500000)) end,
}
