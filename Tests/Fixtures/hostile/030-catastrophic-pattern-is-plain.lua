-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: a backtracking pattern like (a*)*b on 400 bytes ran 7.8 s in stock Lua; find is plain-only here, so it is a literal search that returns nil at once (observed: ok)
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local subject = ('a'):rep(400)
    local hits = 0
    if string.find(subject, '(a*)*b') then hits = hits + 1 end
    if subject:find('(.-)(.-)(.-)(.-)(.-)$') then hits = hits + 1 end
    if string.find(subject, 'a*', 1, false) then hits = hits + 1 end
    -- a literal '.' is found where the dot is, proving patterns are not interpreted
    local dot = string.find('a.b', '.')
    return hits * 100 + dot + node.cpu
  end,
}
