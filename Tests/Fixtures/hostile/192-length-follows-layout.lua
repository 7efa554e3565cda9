-- expect: ok
-- phase: decide
-- chosen: d,b,a
-- why: # on a table with holes returns a border that depends on the array part's size, set at the last rehash, whose timing follows string hashes: with one hash seed in every state it is the same everywhere
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local total = 0
    for trial = 1, 30 do
      local t, s = {}, 0
      for k = 1, 8 do t[k] = k end
      for i = 1, 60 + trial do
        s = s + 1
        t['x' .. s .. '/' .. trial .. node.id] = s
        if s > 12 then t['x' .. (s - 12) .. '/' .. trial .. node.id] = nil end
        t[8 + 2 * i] = i
      end
      total = total + #t
    end
    return total + node.cpu
  end,
}
