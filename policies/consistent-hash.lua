-- consistent-hash: the prototype's second placement, a consistent-hash ring.
--
-- What it is for
--   Every candidate node owns virtual nodes ("vnodes") on a ring of 63-bit keys:
--     vnodes(node) = min(max_vnodes_per_node, floor(64 * capacity / 2^30)), at least 1
--       (64 per GiB, i.e. one per 16 MiB of capacity; GiB = 2^30 bytes is assumed for the
--       prototype's "64 virtual nodes per GB")
--     vnode key    = hash64(node.id .. "#" .. i)   for i = 0 .. vnodes - 1
--     chunk key    = hash64(ctx.chunk.hash)         (the 64-hex text of the chunk hash)
--   hash64 is the first 8 bytes of SHA-256, big-endian, top bit cleared, which is the
--   prototype's "keys from the first 8 bytes of SHA-256" on a 63-bit ring.
--   select sorts the vnodes by key (then node id), starts at the first vnode whose key
--   is >= the chunk key, and walks clockwise (wrapping past the largest key to the
--   smallest), taking each node the first time one of its vnodes is met, until `want`
--   nodes are chosen or the ring is exhausted. Only candidates (eligible nodes that
--   passed the filter) are on the ring, which is the same as walking the full ring and
--   skipping the others. The score is the node's vnode count (its share of the ring);
--   it is an explanation only, the order comes from select.
--
-- When to use it
--   When placements should move as little as possible as nodes join and leave: adding
--   or removing a node only moves the chunks whose walk meets that node's vnodes.
--   It ignores zones and load.
--
-- Parameters
--   max_vnodes_per_node = 8   cap on vnodes per node. The cap keeps one decision's
--       hashing bounded (a decision hashes sum(vnodes) node keys, and hash64 is charged
--       by the bytes hashed), so with the cap 64 vnodes/GiB is exact only for small
--       nodes: up to 128 MiB at the default (8 vnodes = 128 MiB), up to 16 GiB at 1024.
--       Above the cap every node weighs the same. Raise it (and the budget) for
--       capacity-proportional rings of large nodes.
--   Always filtered: zero-capacity nodes and nodes whose free bytes are fewer than
--   the chunk size.
--
-- Examples (ring keys were computed with real SHA-256; the relevant stretch of the
-- ring is shown next to each example)
--   1. default cap: three 1-2 GiB nodes with 8 vnodes each, want 2;
--   2. small nodes where 64/GiB is exact (32, 48 and 16 MiB -> 2, 3, 1 vnodes), want 3;
--   3. the same chunk as 1 with a holder: its vnodes are skipped and the walk goes on;
--   4. example 1 plus a node whose vnodes are not on the walk: the answer does not
--      change; a zero-capacity node is excluded;
--   5. example 1 plus a node whose vnode lands on the walk: it replaces b only.

local MiB = 1048576
local GiB = 1073741824

local function num(x)
  local i = math.tointeger(x)
  if i then return string.format("%d", i) end
  return string.format("%g", x)
end

local function vnodes(node, ctx)
  local v = node.capacity // 16777216                    -- floor(64 * capacity / 2^30)
  v = math.floor(math.min(v, ctx.params.max_vnodes_per_node))
  return math.max(v, 1)
end

return {
  name = "consistent-hash",
  version = 1,
  api = 1,
  description = "prototype consistent-hash ring: 64 vnodes per GiB (capped), clockwise walk from the chunk key",
  params = { max_vnodes_per_node = 8 },
  budget = { instructions = 20000000, memory = 33554432 },

  filter = function(node, ctx)
    if node.capacity <= 0 then return false, "zero capacity" end
    if node.free < ctx.chunk.size then
      return false, "needs " .. num(ctx.chunk.size) .. " bytes free, has " .. num(node.free)
    end
    return true
  end,

  score = function(node, ctx)
    local v = vnodes(node, ctx)
    return v, { vnodes = v }
  end,

  select = function(ranked, ctx)
    local ring = {}
    for _, n in ipairs(ranked) do
      for i = 0, vnodes(n, ctx) - 1 do
        ring[#ring + 1] = { key = hash64(n.id .. "#" .. i), id = n.id }
      end
    end
    table.sort(ring, function(a, b)
      if a.key ~= b.key then return a.key < b.key end
      return a.id < b.id
    end)
    local key = hash64(ctx.chunk.hash)
    local start = 1
    while start <= #ring and ring[start].key < key do start = start + 1 end
    local chosen, taken = {}, {}
    for k = 0, #ring - 1 do
      if #chosen >= ctx.want then break end
      local v = ring[(start - 1 + k) % #ring + 1]
      if not taken[v.id] then
        taken[v.id] = true
        chosen[#chosen + 1] = v.id
      end
    end
    return chosen
  end,

  examples = {
    { name = "default cap: 1-2 GiB nodes get 8 vnodes each",
      -- vnodes: a (1 GiB) = min(8, 64) = 8, b (2 GiB) = min(8, 128) = 8, c = 8
      -- chunk key = hash64("2725aea2...6567c5") = 2086497639498465179
      -- clockwise: a#1 2293272585679841233 -> a
      --            a#0 2346553899526341994    (a again)
      --            b#5 2928324437389892294 -> b        => a, b
      chunk = { hash = "2725aea2d2dea736fbe38e41ecb518f6098cb68ac77362c5e34faafb356567c5",
                size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "b", capacity = 2 * GiB },
        { id = "c", capacity = 1 * GiB },
      },
      expect = { "a", "b" },
      scores = { a = 8, b = 8, c = 8 },
    },
    { name = "small nodes: 64 vnodes per GiB is exact; the walk wraps around",
      -- vnodes: p = 32 MiB / 16 MiB = 2, q = 48/16 = 3, r = 16/16 = 1
      -- ring: p#0 2808428070420302185, q#1 3801647375370614987, q#2 4049412153043249266,
      --       r#0 5677347837131316971, p#1 7332711732104522777, q#0 7437806008672328380
      -- chunk key = hash64("b6f3c158...c6dc1e") = 8414631820409539842, past the last vnode,
      -- so the walk wraps to the start: p#0 -> p, q#1 -> q, q#2, r#0 -> r   => p, q, r
      chunk = { hash = "b6f3c15844fe12f966ad90db59da8332a9a6d9dfd198ac83949be2045ec6dc1e",
                size = 1048576, replicas = 3 },
      nodes = {
        { id = "p", capacity = 32 * MiB },
        { id = "q", capacity = 48 * MiB },
        { id = "r", capacity = 16 * MiB },
      },
      expect = { "p", "q", "r" },
      scores = { p = 2, q = 3, r = 1 },
    },
    { name = "a holder's vnodes are skipped",
      -- same ring and chunk as the first example; a holds the chunk, want = 3 - 1 = 2.
      -- clockwise from 2086497639498465179 without a: b#5 2928324437389892294 -> b,
      --   (a#3 3089977611510694536 is not on the ring) c#4 3726808205669037216 -> c
      chunk = { hash = "2725aea2d2dea736fbe38e41ecb518f6098cb68ac77362c5e34faafb356567c5",
                size = 1048576, replicas = 3, holders = { "a" } },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "b", capacity = 2 * GiB },
        { id = "c", capacity = 1 * GiB },
      },
      expect = { "b", "c" },
      rejected = { a = "already holds chunk" },
    },
    { name = "adding a node whose vnodes fall elsewhere changes nothing",
      -- the first example plus e (no e vnode between the chunk key and b#5) and z
      -- (zero capacity, filtered out): still a#1 -> a, a#0, b#5 -> b
      chunk = { hash = "2725aea2d2dea736fbe38e41ecb518f6098cb68ac77362c5e34faafb356567c5",
                size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "b", capacity = 2 * GiB },
        { id = "c", capacity = 1 * GiB },
        { id = "e", capacity = 1 * GiB },
        { id = "z", capacity = 0 },
      },
      expect = { "a", "b" },
      rejected = { z = "zero capacity" },
    },
    { name = "adding a node whose vnode falls on the walk takes that place",
      -- the first example plus d: d#0 = 2839673693604534872 lies between a#0 and b#5,
      -- so the walk is a#1 -> a, a#0, d#0 -> d   => a, d (only b's replica moves)
      chunk = { hash = "2725aea2d2dea736fbe38e41ecb518f6098cb68ac77362c5e34faafb356567c5",
                size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "b", capacity = 2 * GiB },
        { id = "c", capacity = 1 * GiB },
        { id = "d", capacity = 1 * GiB },
      },
      expect = { "a", "d" },
    },
  },
}
