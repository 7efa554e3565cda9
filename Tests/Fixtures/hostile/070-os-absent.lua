-- expect: runtime_error
-- phase: decide
-- message: attempt to index a nil value (global 'os')
-- why: os.time/os.clock/os.getenv would read the machine
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local t = os.time() + os.clock()
    return 1
  end,
}
