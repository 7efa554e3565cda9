-- expect: ok
-- phase: decide
-- chosen: a,b,c
-- why: the sign of a NaN made by 0/0 differs by CPU (x86-64 prints -nan, arm64 nan): a choice keyed on its text must not depend on the machine
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  select = function(ranked, ctx)
    local a, b = tostring(0/0), tostring(-(0/0))
    local c = string.format('%f', 0/0)
    if a == b and a == c then return { 'a', 'b', 'c' } end
    return { 'd', 'c', 'b' }
  end,
  score = function(node, ctx) return node.cpu end,
}
