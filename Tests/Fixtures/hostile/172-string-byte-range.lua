-- expect: runtime_error
-- phase: decide
-- message: string.byte: at most 256 results
-- why: string.byte(s, 1, n) pushes n results in C, and passing them on copies them in one instruction: at most 256
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = ('x'):rep(8000)
    while true do string.byte(s, 1, 8000) end
  end,
}
