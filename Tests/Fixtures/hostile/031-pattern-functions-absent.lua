-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (field 'gsub')
-- why: string.match, gmatch and gsub (Lua patterns) do not exist
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) return #string.gsub(node.id, '(.)', '%1%1') end,
}
