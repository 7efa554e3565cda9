-- expect: runtime_error
-- phase: decide
-- message: instruction budget exhausted
-- why: error('instruction budget exhausted') is the script's own error: the host decides from its flags, not the text
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) error('instruction budget exhausted', 0) end,
}
