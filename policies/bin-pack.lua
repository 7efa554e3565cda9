-- bin-pack: fill the fullest nodes that still fit, keeping some headroom.
--
-- What it is for
--   Concentrates data on as few nodes as possible so that empty nodes stay empty (to
--   be powered down, drained, or kept for large chunks). A node is a candidate only
--   if, after placing the chunk, it still has `headroom` of its capacity free:
--     keep  if  free - chunk.size >= headroom * capacity
--   and candidates are ranked by their utilization after placing the chunk:
--     score = (used + chunk.size) / capacity        (higher first)
--   With distinct_zones = true, select first takes the best node of each zone that
--   does not hold the chunk yet (zones of the current holders count as used), then
--   fills from the rest in score order; with false it takes the top `want`.
--
-- When to use it
--   Cold or archival tiers, clusters that grow by adding empty nodes, or whenever
--   fewer busy nodes are worth more than even load. Not for hot data: it piles new
--   chunks onto the busiest nodes (use balanced for that).
--
-- Parameters
--   headroom = 0.1          fraction of capacity that must stay free after placing
--                           (0.1: a node may be filled up to 90%)
--   distinct_zones = true   spread the replicas over distinct zones first
--   Always filtered: zero-capacity nodes.
--
-- Examples
--   1. the fullest node that stays under 90% first; a node that would pass 90% is out;
--   2. distinct zones first: the second fullest node is skipped for another zone;
--   3. the same nodes with distinct_zones = false: the two fullest, same zone;
--   4. a holder's zone is filled last; headroom = 0.25 (75%) and a zero-capacity node.

local GB = 1000000000
local MB = 1000000

return {
  name = "bin-pack",
  version = 1,
  api = 1,
  description = "fill the fullest nodes that stay under (1 - headroom) of capacity, distinct zones first",
  params = { headroom = 0.1, distinct_zones = true },
  budget = { instructions = 5000000, memory = 16777216 },

  filter = function(node, ctx)
    if node.capacity <= 0 then return false, "zero capacity" end
    local h = ctx.params.headroom
    if node.free - ctx.chunk.size < h * node.capacity then
      return false, string.format("would exceed %g%% of capacity (%g%% used)",
        (1 - h) * 100, node.used / node.capacity * 100)
    end
    return true
  end,

  score = function(node, ctx)
    local after = (node.used + ctx.chunk.size) / node.capacity
    return after, { utilization_after = after }
  end,

  select = function(ranked, ctx)
    local chosen, taken, zone_used = {}, {}, {}
    if ctx.params.distinct_zones then
      for _, n in ipairs(ctx.nodes) do
        if n.holds then zone_used[n.zone] = true end
      end
      for _, n in ipairs(ranked) do
        if #chosen >= ctx.want then break end
        if not zone_used[n.zone] then
          zone_used[n.zone] = true
          taken[n.id] = true
          chosen[#chosen + 1] = n.id
        end
      end
    end
    for _, n in ipairs(ranked) do
      if #chosen >= ctx.want then break end
      if not taken[n.id] then
        taken[n.id] = true
        chosen[#chosen + 1] = n.id
      end
    end
    return chosen
  end,

  examples = {
    { name = "fullest node that still fits first",
      -- chunk 100 MB, all 10 GB nodes, headroom 10% = 1 GB must stay free:
      -- a: used 5 GB,    free after = 4.9 GB  ok, score (5 + 0.1) / 10 = 0.51
      -- b: used 8 GB,    free after = 1.9 GB  ok, score (8 + 0.1) / 10 = 0.81
      -- c: used 8.95 GB, free after = 0.95 GB < 1 GB -> rejected
      chunk = { size = 100 * MB, replicas = 2 },
      nodes = {
        { id = "a", zone = "z1", capacity = 10 * GB, used = 5 * GB },
        { id = "b", zone = "z2", capacity = 10 * GB, used = 8 * GB },
        { id = "c", zone = "z3", capacity = 10 * GB, used = 8950 * MB },
      },
      expect = { "b", "a" },
      scores = { a = 0.51, b = 0.81 },
      rejected = { c = "would exceed 90% of capacity (89.5% used)" },
    },
    { name = "distinct zones first",
      -- scores: a (z1) 8.1/10 = 0.81, b (z1) 7.1/10 = 0.71, c (z2) 2.1/10 = 0.21
      -- pass 1: a (z1), skip b (z1 used), c (z2)
      chunk = { size = 100 * MB, replicas = 2 },
      nodes = {
        { id = "a", zone = "z1", capacity = 10 * GB, used = 8 * GB },
        { id = "b", zone = "z1", capacity = 10 * GB, used = 7 * GB },
        { id = "c", zone = "z2", capacity = 10 * GB, used = 2 * GB },
      },
      expect = { "a", "c" },
      scores = { a = 0.81, b = 0.71, c = 0.21 },
    },
    { name = "distinct_zones = false packs the two fullest",
      chunk = { size = 100 * MB, replicas = 2 },
      params = { distinct_zones = false },
      nodes = {
        { id = "a", zone = "z1", capacity = 10 * GB, used = 8 * GB },
        { id = "b", zone = "z1", capacity = 10 * GB, used = 7 * GB },
        { id = "c", zone = "z2", capacity = 10 * GB, used = 2 * GB },
      },
      expect = { "a", "b" },
    },
    { name = "holder's zone last, headroom 0.25, zero capacity",
      -- h holds the chunk (zone z1): want = 3 - 1 = 2. Headroom 25%: 2.5 GB must stay free.
      -- a (z1): used 7 GB, free after 2.9 GB ok, score 7.1/10 = 0.71
      -- b (z1): used 7.5 GB, free after 2.4 GB < 2.5 GB -> rejected
      -- c (z2): used 1 GB, score 1.1/10 = 0.11;  d (z3): zero capacity
      -- pass 1 skips a (z1 holds the chunk) -> c; pass 2 -> a
      chunk = { size = 100 * MB, replicas = 3, holders = { "h" } },
      params = { headroom = 0.25 },
      nodes = {
        { id = "h", zone = "z1", capacity = 10 * GB, used = 9 * GB },
        { id = "a", zone = "z1", capacity = 10 * GB, used = 7 * GB },
        { id = "b", zone = "z1", capacity = 10 * GB, used = 7500 * MB },
        { id = "c", zone = "z2", capacity = 10 * GB, used = 1 * GB },
        { id = "d", zone = "z3", capacity = 0 },
      },
      expect = { "c", "a" },
      scores = { a = 0.71, c = 0.11 },
      rejected = { b = "would exceed 75% of capacity (75% used)", d = "zero capacity",
                   h = "already holds chunk" },
    },
  },
}
