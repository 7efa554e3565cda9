-- rendezvous: capacity-weighted highest-random-weight (rendezvous) hashing.
--
-- What it is for
--   Every node draws a pseudo-random number per chunk from the hash of its id and the
--   chunk hash, and the `want` highest weighted draws win:
--     h     = hash64(node.id .. ":" .. ctx.chunk.hash)     (0 .. 2^63-1)
--     u     = (h + 0.5) / 2^63, computed on the top 52 bits of h as
--             ((h >> 11) + 0.5) / 2^52 so that u is strictly inside (0, 1) in floating
--             point ((h + 0.5) / 2^63 rounds to exactly 1.0 for the largest 512 values
--             of h, and ln(1) = 0 would make the score infinite)
--     score = -weight / ln(u),   weight = capacity (or free bytes) in GiB (2^30 bytes)
--   The host takes the top `want` by score (then id). With weight w, a node wins a
--   chunk with probability proportional to w. Scaling the weight to GiB only makes the
--   numbers readable; it is an exact power-of-two division and changes no order.
--
-- When to use it
--   Like consistent-hash, placements are stable: removing a node only moves the chunks
--   it held (every other node's score for a chunk is unchanged), adding a node only
--   takes the chunks it now wins. Unlike the ring it needs no vnodes and weighs nodes
--   exactly by capacity. It ignores zones and load.
--
-- Parameters
--   weight_by = "capacity"   "capacity": weigh by node capacity (stable placements);
--                            "free": weigh by free bytes (fills empty nodes faster, but
--                            scores move as nodes fill, so placements are less stable)
--   Always filtered: zero-capacity nodes and nodes whose free bytes are fewer than the
--   chunk size (so the weight is always > 0). Any other weight_by is an error.
--
-- Examples (h and ln(u) computed with real SHA-256; chunk "dfd37440...a1e1dd")
--   1. four equal 1 GiB nodes, want 2: the two largest -1/ln(u);
--   2. the same with b (not chosen) removed: same answer;
--   3. the same with c (chosen) removed: a stays, d (third before) replaces c;
--   4. a 10 GiB node added: it overtakes c despite a low draw (weighting);
--   5. weight_by = "free": a nearly full node loses its first place; a full node is
--      filtered out.

local MiB = 1048576
local GiB = 1073741824
local TWO52 = 4503599627370496.0   -- 2^52

local function num(x)
  local i = math.tointeger(x)
  if i then return string.format("%d", i) end
  return string.format("%g", x)
end

local function weight(node, ctx)
  local by = ctx.params.weight_by
  if by == "capacity" then return node.capacity / GiB end
  if by == "free" then return node.free / GiB end
  error("weight_by must be \"capacity\" or \"free\", got " .. tostring(by))
end

return {
  name = "rendezvous",
  version = 1,
  api = 1,
  description = "capacity-weighted rendezvous (highest random weight) hashing",
  params = { weight_by = "capacity" },
  budget = { instructions = 5000000, memory = 16777216 },

  filter = function(node, ctx)
    if node.capacity <= 0 then return false, "zero capacity" end
    if node.free < ctx.chunk.size then
      return false, "needs " .. num(ctx.chunk.size) .. " bytes free, has " .. num(node.free)
    end
    return true
  end,

  score = function(node, ctx)
    local h = hash64(node.id .. ":" .. ctx.chunk.hash)
    local u = ((h >> 11) + 0.5) / TWO52
    local w = weight(node, ctx)
    return -w / math.log(u), { weight_gib = w, u = u }
  end,

  examples = {
    { name = "equal weights: the highest draws win",
      -- node  h = hash64(id..":"..chunk)  u        ln(u)          score = -1/ln(u)
      -- a     7561787953167257277         0.81985  -0.19863303741  5.0344092454
      -- b      938157834450567633         0.10172  -2.28557777851  0.4375261299
      -- c     5398300992378396308         0.58528  -0.53565642836  1.8668682892
      -- d     5148889268056921067         0.55824  -0.58295968607  1.7153844835
      chunk = { hash = "dfd3744075c1ae74c2350ff6344acbcc7de7b5559dda9f144cfb4cabd6a1e1dd",
                size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "b", capacity = 1 * GiB },
        { id = "c", capacity = 1 * GiB },
        { id = "d", capacity = 1 * GiB },
      },
      expect = { "a", "c" },
      scores = { a = 5.034409245437896, b = 0.43752612989258206,
                 c = 1.866868289174256, d = 1.7153844835016398 },
    },
    { name = "removing a node that was not chosen changes nothing",
      -- b is gone; a, c and d keep their scores -> still a, c
      chunk = { hash = "dfd3744075c1ae74c2350ff6344acbcc7de7b5559dda9f144cfb4cabd6a1e1dd",
                size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "c", capacity = 1 * GiB },
        { id = "d", capacity = 1 * GiB },
      },
      expect = { "a", "c" },
    },
    { name = "removing a chosen node only replaces that one",
      -- c is gone; a keeps its place, d (third in example 1) takes c's
      chunk = { hash = "dfd3744075c1ae74c2350ff6344acbcc7de7b5559dda9f144cfb4cabd6a1e1dd",
                size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "b", capacity = 1 * GiB },
        { id = "d", capacity = 1 * GiB },
      },
      expect = { "a", "d" },
    },
    { name = "capacity weighting: a 10 GiB node overtakes a better draw",
      -- big: h = 574522463524341412, u = 0.06229, ln(u) = -2.77595678284,
      --      score = 10 / 2.77595678284 = 3.6023615576 > c's 1.8668682892
      chunk = { hash = "dfd3744075c1ae74c2350ff6344acbcc7de7b5559dda9f144cfb4cabd6a1e1dd",
                size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", capacity = 1 * GiB },
        { id = "b", capacity = 1 * GiB },
        { id = "big", capacity = 10 * GiB },
        { id = "c", capacity = 1 * GiB },
        { id = "d", capacity = 1 * GiB },
      },
      expect = { "a", "big" },
      scores = { big = 3.6023615575754576 },
    },
    { name = "weight_by = free: a nearly full node drops",
      -- a: free = 1 GiB - 768 MiB = 0.25 GiB, score = 0.25 * 5.0344092454 = 1.2586023114,
      --    now below c (1.8668682892) and d (1.7153844835); full has no free space.
      chunk = { hash = "dfd3744075c1ae74c2350ff6344acbcc7de7b5559dda9f144cfb4cabd6a1e1dd",
                size = 1048576, replicas = 2 },
      params = { weight_by = "free" },
      nodes = {
        { id = "a", capacity = 1 * GiB, used = 768 * MiB },
        { id = "b", capacity = 1 * GiB },
        { id = "c", capacity = 1 * GiB },
        { id = "d", capacity = 1 * GiB },
        { id = "full", capacity = 1 * GiB, used = 1 * GiB },
      },
      expect = { "c", "d" },
      scores = { a = 1.258602311359474 },
      rejected = { full = "needs 1048576 bytes free, has 0" },
    },
  },
}
