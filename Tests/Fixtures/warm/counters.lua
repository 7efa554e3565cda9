-- API level 2, a hostile policy that tries to carry counts from one decision to the next through a
-- global, _ENV, a top-level local and a memo table: every decision must still be a fresh one.
local calls = 0
local memo = {}
return {
  name = "warm-counters", version = 1, api = 2,
  score = function(node, ctx) return node.capacity, { capacity = node.capacity } end,
  admit = function(node, ctx)
    calls = calls + 1
    seen = (seen or 0) + 1
    local env = _ENV
    env.total = (env.total or 0) + 1
    if memo[node.id] then return false, "memo says no" end
    memo[node.id] = true
    -- With any leak, later decisions would reject nodes the first ones admitted.
    return calls == seen and seen == total
  end,
}
