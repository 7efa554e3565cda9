-- expect: runtime_error
-- phase: decide
-- message: mmmmmmmmmm
-- why: a 16 KB error message is reported, truncated by the host, without overflowing its buffers
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx) error(('m'):rep(16000), 0) end,
}
