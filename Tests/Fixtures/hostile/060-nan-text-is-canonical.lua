-- expect: runtime_error
-- phase: decide
-- message: cannot format nan
-- why: the sign of a NaN differs by CPU (x86-64 -nan, arm64 nan): tostring prints "nan", and string.format refuses to format a NaN rather than print machine-dependent text
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
