-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: a policy may scribble on its own string table (reached by ("").x too) but it reaches nothing outside its own fresh state
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    string.rep = function() return 'forged' end
    local s = ('ab'):rep(3)
    assert(s == 'forged', s)
    assert(string.dump == nil and string.gsub == nil)
    return #s + node.cpu
  end,
}
