-- weighted-score: the prototype scheduler's weighted formula, as a placement policy.
--
-- What it is for
--   Ranks every eligible node by one linear score over the resources it reports
--   and takes the best `want` nodes:
--
--     score = w_cpu*cpu + w_ram*ram_mb + w_gpu*gpu + w_latency*(1/latency_ms) - w_io*io
--
--   where 1/latency_ms is taken as 1 when latency_ms <= 0 (the prototype's rule).
--   Ties are broken by the host (score descending, then node id ascending), which
--   reproduces the prototype's "equal scores go to the smallest node id".
--   Each score is explained by its terms: cpu, ram, gpu, latency and io (the io
--   term is negative); the terms add up to the score.
--
-- When to use it
--   When placement should follow live node resources (free CPU/RAM/GPU, latency,
--   I/O pressure) rather than zones or capacity. It ignores zones entirely; use
--   zone-spread or balanced when replicas must land in distinct zones.
--   Note: a node that has not reported stats has every stat 0, so its latency term
--   is w_latency*1 = 50 by default, which beats most real nodes. That is the
--   prototype's behaviour; set require_stats = true to exclude such nodes.
--
-- Parameters (default: meaning)
--   w_cpu = 1.0            weight per free CPU core
--   w_ram = 0.001          weight per free MiB of RAM
--   w_gpu = 2.0            weight per free GPU
--   w_latency = 50.0       weight of 1/latency_ms
--   w_io = 1.5             penalty per unit of I/O pressure (0..1)
--   min_cpu = 0            filter: free CPU cores must be >= min_cpu
--   min_ram_mb = 0         filter: free RAM (MiB) must be >= min_ram_mb
--   min_gpu = 0            filter: free GPUs must be >= min_gpu
--   max_latency_ms = 0     filter: latency must be <= max_latency_ms; 0 means no limit
--   require_stats = false  filter: exclude nodes that have not reported stats
--   Always filtered: nodes whose free bytes are fewer than the chunk size.
--
-- Examples
--   1. the prototype's worked scores, 26.65 and 15.425, with the default weights;
--   2. a requirement filter (min_ram_mb = 512) excluding a node with 256 MiB even
--      though it would score best;
--   3. an exact score tie going to the smallest node id;
--   4. every other filter reason (free space, CPU, GPU, latency) next to the host's
--      own reasons (draining, already holds the chunk);
--   5. a node without stats (latency 0 counts as 1/latency = 1) winning by default;
--   6. the same nodes with require_stats = true.

local GiB = 1073741824

-- integral numbers print without a fractional part, others with %g
local function num(x)
  local i = math.tointeger(x)
  if i then return string.format("%d", i) end
  return string.format("%g", x)
end

return {
  name = "weighted-score",
  version = 2,
  api = 2,
  description = "prototype scheduler formula: weighted free cpu, ram, gpu, 1/latency minus io pressure",
  params = {
    w_cpu = 1.0, w_ram = 0.001, w_gpu = 2.0, w_latency = 50.0, w_io = 1.5,
    min_cpu = 0, min_ram_mb = 0, min_gpu = 0, max_latency_ms = 0,
    require_stats = false,
  },
  budget = { instructions = 5000000, memory = 16777216 },

  -- API level 2: filter and score run once per snapshot (nothing here depends on the chunk); admit
  -- runs per chunk, only on the best-ranked nodes until enough are admitted.
  filter = function(node, ctx)
    local p = ctx.params
    if p.require_stats and not node.has_stats then
      return false, "no stats reported"
    end
    if node.cpu < p.min_cpu then
      return false, "needs " .. num(p.min_cpu) .. " CPU, has " .. num(node.cpu)
    end
    if node.ram_mb < p.min_ram_mb then
      return false, "needs " .. num(p.min_ram_mb) .. " MiB RAM, has " .. num(node.ram_mb)
    end
    if node.gpu < p.min_gpu then
      return false, "needs " .. num(p.min_gpu) .. " GPU, has " .. num(node.gpu)
    end
    if p.max_latency_ms > 0 and node.latency_ms > p.max_latency_ms then
      return false, "latency " .. num(node.latency_ms) .. " ms exceeds " .. num(p.max_latency_ms) .. " ms"
    end
    return true
  end,

  admit = function(node, ctx)
    if node.free < ctx.chunk.size then
      return false, "needs " .. num(ctx.chunk.size) .. " bytes free, has " .. num(node.free)
    end
    return true
  end,

  score = function(node, ctx)
    local p = ctx.params
    local inv_latency = 1
    if node.latency_ms > 0 then inv_latency = 1 / node.latency_ms end
    local cpu = p.w_cpu * node.cpu
    local ram = p.w_ram * node.ram_mb
    local gpu = p.w_gpu * node.gpu
    local latency = p.w_latency * inv_latency
    local io = p.w_io * node.io
    return cpu + ram + gpu + latency - io,
      { cpu = cpu, ram = ram, gpu = gpu, latency = latency, io = 0 - io }  -- 0 - x: no -0.0
  end,

  examples = {
    { name = "prototype worked scores",
      -- a: 1.0*0.8 + 0.001*16000 + 2.0*0 + 50/5  - 1.5*0.1  = 0.8 + 16 + 0 + 10 - 0.15  = 26.65
      -- b: 1.0*0.5 + 0.001*8000  + 2.0*1 + 50/10 - 1.5*0.05 = 0.5 + 8  + 2 + 5  - 0.075 = 15.425
      chunk = { size = 1048576, replicas = 2 },
      nodes = {
        { id = "a", zone = "z1", cpu = 0.8, ram_mb = 16000, gpu = 0, latency_ms = 5, io = 0.1 },
        { id = "b", zone = "z2", cpu = 0.5, ram_mb = 8000, gpu = 1, latency_ms = 10, io = 0.05 },
      },
      expect = { "a", "b" },
      scores = { a = 26.65, b = 15.425 },
    },
    { name = "requirement filter: min_ram_mb = 512 excludes a node with 256",
      -- a would score 4 + 0.256 + 0 + 50/2 - 0 = 29.256 but fails the RAM requirement.
      -- b: 1 + 0.001*1024 + 0 + 50/10 - 1.5*0.2 = 1 + 1.024 + 5 - 0.3 = 6.724
      -- replicas 2 but only one node passes: the decision returns just b.
      chunk = { size = 1048576, replicas = 2 },
      params = { min_ram_mb = 512 },
      nodes = {
        { id = "a", cpu = 4, ram_mb = 256, gpu = 0, latency_ms = 2, io = 0 },
        { id = "b", cpu = 1, ram_mb = 1024, gpu = 0, latency_ms = 10, io = 0.2 },
      },
      expect = { "b" },
      scores = { b = 6.724 },
      rejected = { a = "needs 512 MiB RAM, has 256" },
    },
    { name = "equal scores go to the smallest id",
      -- b (listed first): 1.0*2 + 0 + 0     + 50/10 - 0 = 7
      -- a:                0     + 0 + 2.0*1 + 50/10 - 0 = 7   (exactly equal) -> a wins by id
      chunk = { size = 1048576, replicas = 1 },
      nodes = {
        { id = "b", cpu = 2, ram_mb = 0, gpu = 0, latency_ms = 10, io = 0 },
        { id = "a", cpu = 0, ram_mb = 0, gpu = 1, latency_ms = 10, io = 0 },
      },
      expect = { "a" },
      scores = { a = 7, b = 7 },
    },
    { name = "every filter reason, and the host's own",
      -- only e passes: 1.0*2 + 0.001*4096 + 2.0*1 + 50/20 - 1.5*0.5 = 2 + 4.096 + 2 + 2.5 - 0.75 = 9.846
      chunk = { size = 2 * GiB, replicas = 3, holders = { "h" } },
      params = { min_cpu = 1, min_gpu = 1, max_latency_ms = 20 },
      nodes = {
        { id = "a", capacity = 4 * GiB, used = 3 * GiB, cpu = 8, ram_mb = 4096, gpu = 1, latency_ms = 1 },
        { id = "b", cpu = 0.5, ram_mb = 4096, gpu = 1, latency_ms = 1 },
        { id = "c", cpu = 8, ram_mb = 4096, gpu = 0, latency_ms = 1 },
        { id = "d", cpu = 8, ram_mb = 4096, gpu = 1, latency_ms = 25 },
        { id = "e", cpu = 2, ram_mb = 4096, gpu = 1, latency_ms = 20, io = 0.5 },
        { id = "f", status = "draining", cpu = 8, ram_mb = 4096, gpu = 1, latency_ms = 1 },
        { id = "h", cpu = 8, ram_mb = 4096, gpu = 1, latency_ms = 1 },
      },
      expect = { "e" },
      scores = { e = 9.846 },
      rejected = {
        a = "needs 2147483648 bytes free, has 1073741824",
        b = "needs 1 CPU, has 0.5",
        c = "needs 1 GPU, has 0",
        d = "latency 25 ms exceeds 20 ms",
        f = "status draining",
        h = "already holds chunk",
      },
    },
    { name = "a node without stats: latency 0 counts as 1/latency = 1",
      -- quiet (no stats): 0 + 0 + 0 + 50*1 - 0 = 50, beating busy: 1.0*1 + 0.001*2000 + 0 + 50/25 - 1.5*0.2
      --   = 1 + 2 + 2 - 0.3 = 4.7; with require_stats it is excluded instead (next example).
      chunk = { size = 1048576, replicas = 2 },
      nodes = {
        { id = "busy", cpu = 1, ram_mb = 2000, latency_ms = 25, io = 0.2 },
        { id = "quiet" },
      },
      expect = { "quiet", "busy" },
      scores = { quiet = 50, busy = 4.7 },
    },
    { name = "require_stats = true excludes the node without stats",
      chunk = { size = 1048576, replicas = 2 },
      params = { require_stats = true },
      nodes = {
        { id = "busy", cpu = 1, ram_mb = 2000, latency_ms = 25, io = 0.2 },
        { id = "quiet" },
      },
      expect = { "busy" },
      scores = { busy = 4.7 },
      rejected = { quiet = "no stats reported" },
    },
  },
}
