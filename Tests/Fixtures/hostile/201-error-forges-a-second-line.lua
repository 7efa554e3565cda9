-- expect: runtime_error
-- phase: decide
-- message: x\nError: forged
-- why: an error value with a newline would print a forged second line in a terminal or a log: every message leaves the sandbox as one line, the newline escaped
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    error("x\nError: forged", 0)
  end,
}
