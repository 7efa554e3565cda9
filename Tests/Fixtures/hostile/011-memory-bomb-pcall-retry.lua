-- expect: memory_budget
-- phase: decide
-- message: memory budget exhausted
-- why: a memory bomb caught by pcall and retried must stay exhausted (sticky), not recover after the garbage is freed
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local function bomb() local s = 'x' while true do s = s .. s end end
    for attempt = 1, 100 do pcall(bomb) end
    return 1
  end,
}
