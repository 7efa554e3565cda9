-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: hashing 16 KB over and over is charged by the bytes hashed
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local s = ('x'):rep(16000)
    local n = 0
    while true do n = n + hash64(s) % 7 end
  end,
}
