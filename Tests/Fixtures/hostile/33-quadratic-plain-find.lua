-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: plain find of a near-miss needle in a large haystack is O(n*m) in C and must be charged for it
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local haystack = ('a'):rep(1000000)
    local needle = ('a'):rep(100000) .. 'b'
    local found = 0
    while true do
      if string.find(haystack, needle, 1, true) then found = found + 1 end
    end
  end,
}
