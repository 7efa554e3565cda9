-- balanced: least utilized nodes first, spread over zones, with a small latency term.
--
-- What it is for
--   Keeps nodes evenly filled and replicas in distinct zones:
--     utilization = used / capacity            (of the node, before placing the chunk)
--     score = -(w_util * utilization) - w_latency * latency_ms / 1000
--   so an empty node scores 0 and every 1% of utilization costs as much as 100 ms of
--   latency at the default weights (the latency term only separates nodes of almost
--   equal utilization). select takes the best node of each zone that does not hold
--   the chunk yet (zones of the current holders count as used), then fills from the
--   remaining candidates in score order, like zone-spread.
--
-- When to use it
--   General-purpose hot storage: even wear and load, zone durability, and a nudge
--   towards nearby nodes. Nodes without stats have latency 0 (no latency penalty).
--
-- Parameters
--   w_util = 1.0      weight of the node's utilization (0..1)
--   w_latency = 0.1   weight of latency in seconds (latency_ms / 1000)
--   Always filtered: zero-capacity nodes and nodes whose free bytes are fewer than
--   the chunk size.
--
-- Examples
--   1. least utilized first, one node per zone;
--   2. the latency term decides between nearly equal utilizations;
--   3. two zones, want 3: distinct zones then fill;
--   4. a holder's zone is filled last; a zero-capacity and a full node are excluded;
--   5. w_latency = 0: pure utilization, so the near tie of example 2 flips.

local GB = 1000000000

local function num(x)
  local i = math.tointeger(x)
  if i then return string.format("%d", i) end
  return string.format("%g", x)
end

return {
  name = "balanced",
  version = 2,
  api = 2,
  description = "least utilized nodes first with a small latency term, distinct zones first",
  params = { w_util = 1.0, w_latency = 0.1 },
  budget = { instructions = 5000000, memory = 16777216 },

  -- API level 2: filter and score run once per snapshot; admit (free space) per chunk, on the
  -- best-ranked nodes only; select walks the admitted candidates in score order.
  filter = function(node, ctx)
    if node.capacity <= 0 then return false, "zero capacity" end
    return true
  end,

  score = function(node, ctx)
    local p = ctx.params
    local util = p.w_util * (node.used / node.capacity)
    local latency = p.w_latency * node.latency_ms / 1000
    return 0 - util - latency, { utilization = 0 - util, latency = 0 - latency }
  end,

  admit = function(node, ctx)
    if node.free < ctx.chunk.size then
      return false, "needs " .. num(ctx.chunk.size) .. " bytes free, has " .. num(node.free)
    end
    return true
  end,

  select = function(ctx)
    local chosen, taken, zone_used = {}, {}, {}
    for _, id in ipairs(ctx.chunk.holders) do
      local holder = ctx.nodes_by_id[id]
      if holder then zone_used[holder.zone] = true end
    end
    for n in ctx.candidates() do             -- pass 1: one node per unused zone
      if #chosen >= ctx.want then break end
      if not zone_used[n.zone] then
        zone_used[n.zone] = true
        taken[n.id] = true
        chosen[#chosen + 1] = n.id
      end
    end
    for n in ctx.candidates() do             -- pass 2: fill in score order
      if #chosen >= ctx.want then break end
      if not taken[n.id] then
        taken[n.id] = true
        chosen[#chosen + 1] = n.id
      end
    end
    return chosen
  end,

  examples = {
    { name = "least utilized first, one per zone",
      -- scores (latency 0): a (z1) -0.5, b (z2) -0.2, c (z3) -0.1, d (z1) 0
      -- ranked d, c, b, a; pass 1: d (z1), c (z3), b (z2)
      chunk = { size = 1048576, replicas = 3 },
      nodes = {
        { id = "a", zone = "z1", capacity = 10 * GB, used = 5 * GB },
        { id = "b", zone = "z2", capacity = 10 * GB, used = 2 * GB },
        { id = "c", zone = "z3", capacity = 10 * GB, used = 1 * GB },
        { id = "d", zone = "z1", capacity = 10 * GB, used = 0 },
      },
      expect = { "d", "c", "b" },
      scores = { a = -0.5, b = -0.2, c = -0.1, d = 0 },
    },
    { name = "latency decides between nearly equal utilizations",
      -- a: -0.30 - 0.1 * 200 / 1000 = -0.30 - 0.02   = -0.32
      -- b: -0.31 - 0.1 * 5 / 1000   = -0.31 - 0.0005 = -0.3105  -> b first
      chunk = { size = 1048576, replicas = 1 },
      nodes = {
        { id = "a", zone = "z1", capacity = 100 * GB, used = 30 * GB, latency_ms = 200 },
        { id = "b", zone = "z2", capacity = 100 * GB, used = 31 * GB, latency_ms = 5 },
      },
      expect = { "b" },
      scores = { a = -0.32, b = -0.3105 },
    },
    { name = "two zones, want 3: distinct zones then fill",
      -- scores: a (z1) -0.1, b (z1) -0.2, c (z2) -0.4; pass 1: a, c; pass 2: b
      chunk = { size = 1048576, replicas = 3 },
      nodes = {
        { id = "a", zone = "z1", capacity = 10 * GB, used = 1 * GB },
        { id = "b", zone = "z1", capacity = 10 * GB, used = 2 * GB },
        { id = "c", zone = "z2", capacity = 10 * GB, used = 4 * GB },
      },
      expect = { "a", "c", "b" },
    },
    { name = "holder's zone last; zero-capacity and full nodes excluded",
      -- h (z1) holds the chunk: want = 3 - 1 = 2 and z1 counts as used.
      -- a (z1) 0, c (z2) -0.6; pass 1 skips a -> c; pass 2 -> a
      chunk = { size = 1048576, replicas = 3, holders = { "h" } },
      nodes = {
        { id = "h", zone = "z1", capacity = 10 * GB },
        { id = "a", zone = "z1", capacity = 10 * GB },
        { id = "c", zone = "z2", capacity = 10 * GB, used = 6 * GB },
        { id = "d", zone = "z3", capacity = 0 },
        { id = "e", zone = "z4", capacity = 10 * GB, used = 10 * GB },
      },
      expect = { "c", "a" },
      scores = { a = 0, c = -0.6 },
      rejected = { h = "already holds chunk", d = "zero capacity",
                   e = "needs 1048576 bytes free, has 0" },
    },
    { name = "w_latency = 0: utilization only",
      -- the nodes of example 2: a -0.30, b -0.31 -> a first
      chunk = { size = 1048576, replicas = 1 },
      params = { w_latency = 0.0 },
      nodes = {
        { id = "a", zone = "z1", capacity = 100 * GB, used = 30 * GB, latency_ms = 200 },
        { id = "b", zone = "z2", capacity = 100 * GB, used = 31 * GB, latency_ms = 5 },
      },
      expect = { "a" },
      scores = { a = -0.3, b = -0.31 },
    },
  },
}
