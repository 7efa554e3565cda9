-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: a < b on strings made of NUL bytes calls strcoll once per NUL-separated piece inside one instruction: each call is charged, so an endless loop of it ends at the budget
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local a = ('\0'):rep(16000) .. 'a'
    local b = ('\0'):rep(16000) .. 'b'
    local n = 0
    while true do if a < b then n = n + 1 end end
  end,
}
