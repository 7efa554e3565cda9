-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: a vararg list grown 20 values per call to 20,000 values is copied whole by each call that passes it on: every instruction of a function holding it is charged by its length
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local function sink(...) return 0 end
    local function pump(...) while true do sink(...) end end
    local function widen(k, ...)
      if k == 0 then return pump(...) end
      return widen(k - 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, ...)
    end
    return widen(1000)
  end,
}
