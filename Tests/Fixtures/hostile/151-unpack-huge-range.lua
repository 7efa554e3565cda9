-- expect: runtime_error
-- phase: decide
-- message: at most 256 results
-- why: table.unpack({}, 1, 1e8) is refused before it touches the stack
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return select('#', table.unpack({}, 1, 1e8)) end,
}
