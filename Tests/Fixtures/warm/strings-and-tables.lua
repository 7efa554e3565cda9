-- API level 2, a policy whose memory use would depend on earlier decisions if their strings or tables
-- survived: it interns thousands of strings and grows a table in every admit.
return {
  name = "warm-strings", version = 1, api = 2,
  score = function(node, ctx) return node.cpu + node.ram_mb / 1000, { cpu = node.cpu } end,
  admit = function(node, ctx)
    local t = {}
    for i = 1, 400 do t[i] = node.id .. ":" .. i .. ":" .. ctx.chunk.hash end
    return #t == 400 and node.free >= ctx.chunk.size
  end,
}
