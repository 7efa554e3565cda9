-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: single recursion through pcall stops at the C-stack limit, is caught, and the reached depth is deterministic
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local function f(n)
      local ok, r = pcall(f, n + 1)
      if ok then return r end
      return n
    end
    return f(1) + node.cpu
  end,
}
