-- expect: runtime_error
-- phase: decide
-- message: attempt to perform arithmetic on a string value
-- why: "1" + 1 would convert the string with strtod, whose work grows with the string's length inside one instruction; arithmetic on strings is not available
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local digits = ('0'):rep(16000) .. '1'
    local total = 0
    while true do total = total + (digits + 0) end
  end,
}
