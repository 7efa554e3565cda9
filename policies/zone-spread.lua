-- zone-spread: the prototype's placement suggestion (distinct zones first, then fill).
--
-- What it is for
--   Puts the replicas of a chunk in as many different zones as possible, preferring
--   the least utilized zones and, inside a zone, the biggest nodes. Order of the
--   candidates (the prototype's):
--     1. zone utilization ascending (ctx.zones: used / capacity of the whole zone),
--     2. node capacity descending,
--     3. node id ascending.
--   select then walks that order twice:
--     pass 1: take a node only if its zone holds nothing yet, counting the zones of
--             the nodes that already hold the chunk as used;
--     pass 2: fill up to `want` from the remaining candidates in the same order.
--   A node is never taken twice. The score is minus the zone utilization (so the
--   host's ranking already follows key 1); select re-sorts with all three keys.
--   Nodes without a zone (zone "") are treated as one zone named "".
--
-- When to use it
--   The default for durability against the loss of a whole zone (site, rack,
--   region), when node load figures are not trusted or not reported. It ignores
--   node stats (cpu, latency, ...).
--
-- Parameters
--   none. Always filtered: zero-capacity nodes ("zero capacity") and nodes whose
--   free bytes are fewer than the chunk size ("needs N bytes free, has M").
--
-- Examples
--   1. three zones, want 3: one node per zone, emptiest zone first, biggest node
--      first inside a zone;
--   2. two zones, want 3: one per zone, then fill with the next node in order;
--   3. the zone of a node already holding the chunk is skipped in pass 1;
--   4. a zero-capacity node is excluded even though its zone is otherwise empty;
--   5. fewer candidates than want (down, draining, full nodes): returns what exists.

local GB = 1000000000

local function num(x)
  local i = math.tointeger(x)
  if i then return string.format("%d", i) end
  return string.format("%g", x)
end

-- utilization of a zone from ctx.zones (0 if the zone is not listed)
local function zone_utilization(ctx, zone)
  for _, z in ipairs(ctx.zones) do
    if z.id == zone then return z.utilization end
  end
  return 0
end

return {
  name = "zone-spread",
  version = 2,
  api = 2,
  description = "prototype placement: distinct zones first (least utilized zone, biggest node), then fill",
  params = {},
  budget = { instructions = 20000000, memory = 16777216 },   -- score scans ctx.zones per node (once per snapshot)

  -- API level 2: filter and score run once per snapshot; admit (free space) per chunk, on the
  -- best-ranked nodes only; select walks the admitted candidates in that order.
  filter = function(node, ctx)
    if node.capacity <= 0 then return false, "zero capacity" end
    return true
  end,

  -- least utilized zone first; within a zone the biggest node (the third value breaks score ties
  -- before the node id does)
  score = function(node, ctx)
    local u = zone_utilization(ctx, node.zone)
    return 0 - u, { zone_utilization = u, capacity = node.capacity }, node.capacity
  end,

  admit = function(node, ctx)
    if node.free < ctx.chunk.size then
      return false, "needs " .. num(ctx.chunk.size) .. " bytes free, has " .. num(node.free)
    end
    return true
  end,

  select = function(ctx)
    local zone_used = {}
    for _, id in ipairs(ctx.chunk.holders) do
      local holder = ctx.nodes_by_id[id]
      if holder then zone_used[holder.zone] = true end
    end
    local chosen, taken = {}, {}
    -- pass 1: one node per zone not yet used
    for node in ctx.candidates() do
      if #chosen >= ctx.want then break end
      if not zone_used[node.zone] then
        zone_used[node.zone] = true
        taken[node.id] = true
        chosen[#chosen + 1] = node.id
      end
    end
    -- pass 2: fill from the rest, same order
    for node in ctx.candidates() do
      if #chosen >= ctx.want then break end
      if not taken[node.id] then
        taken[node.id] = true
        chosen[#chosen + 1] = node.id
      end
    end
    return chosen
  end,

  examples = {
    { name = "three zones: one node per zone",
      -- zone utilization: z1 = 5/10 = 0.5, z2 = (1+1)/(10+20) = 0.0667, z3 = 0/10 = 0
      -- order: d (z3, 0), c (z2, 20 GB), b (z2, 10 GB), a (z1, 0.5)
      -- pass 1: d (z3), c (z2), skip b (z2 used), a (z1) -> d, c, a
      chunk = { size = 1048576, replicas = 3 },
      nodes = {
        { id = "a", zone = "z1", capacity = 10 * GB, used = 5 * GB },
        { id = "b", zone = "z2", capacity = 10 * GB, used = 1 * GB },
        { id = "c", zone = "z2", capacity = 20 * GB, used = 1 * GB },
        { id = "d", zone = "z3", capacity = 10 * GB, used = 0 },
      },
      expect = { "d", "c", "a" },
      scores = { a = -0.5, b = -2 / 30, c = -2 / 30, d = 0 },
    },
    { name = "two zones, want 3: two zones then fill",
      -- both zones unused (utilization 0): order by capacity a (4), c (3), b (2)
      -- pass 1: a (z1), c (z2); pass 2: b
      chunk = { size = 1048576, replicas = 3 },
      nodes = {
        { id = "a", zone = "z1", capacity = 4 * GB },
        { id = "b", zone = "z1", capacity = 2 * GB },
        { id = "c", zone = "z2", capacity = 3 * GB },
      },
      expect = { "a", "c", "b" },
    },
    { name = "a holder's zone is skipped first",
      -- h holds the chunk (zone z1), so want = 3 - 1 = 2 and z1 counts as used.
      -- order: b (8 GB, z1), c (2 GB, z2), d (1 GB, z3); pass 1 skips b -> c, d
      chunk = { size = 1048576, replicas = 3, holders = { "h" } },
      nodes = {
        { id = "h", zone = "z1", capacity = 8 * GB },
        { id = "b", zone = "z1", capacity = 8 * GB },
        { id = "c", zone = "z2", capacity = 2 * GB },
        { id = "d", zone = "z3", capacity = 1 * GB },
      },
      expect = { "c", "d" },
      rejected = { h = "already holds chunk" },
    },
    { name = "zero-capacity node excluded",
      -- a (z3) has no capacity: filtered out, so z3 gets nothing.
      -- order: c (2 GB, z2), b (1 GB, z1) -> c, b
      chunk = { size = 1048576, replicas = 3 },
      nodes = {
        { id = "a", zone = "z3", capacity = 0 },
        { id = "b", zone = "z1", capacity = 1 * GB },
        { id = "c", zone = "z2", capacity = 2 * GB },
      },
      expect = { "c", "b" },
      rejected = { a = "zero capacity" },
    },
    { name = "fewer candidates than want: returns what exists",
      -- b is down, c is draining, d is full; zone utilization z1 = 0, z4 = 1 GB / 1 GB = 1
      -- candidates: a (z1, 2 GB), e (z1, 1 GB) -> pass 1: a; pass 2: e
      chunk = { size = 1048576, replicas = 3 },
      nodes = {
        { id = "a", zone = "z1", capacity = 2 * GB },
        { id = "b", zone = "z2", capacity = 9 * GB, status = "down" },
        { id = "c", zone = "z3", capacity = 9 * GB, status = "draining" },
        { id = "d", zone = "z4", capacity = 1 * GB, used = 1 * GB },
        { id = "e", zone = "z1", capacity = 1 * GB },
      },
      expect = { "a", "e" },
      rejected = { b = "status down", c = "status draining", d = "needs 1048576 bytes free, has 0" },
    },
  },
}
