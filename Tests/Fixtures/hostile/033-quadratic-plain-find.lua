-- expect: instruction_budget
-- phase: decide
-- message: instruction budget
-- why: plain find of an 8 KB near-miss needle in a 16 KB haystack is O(n*m) byte comparisons in C and must be charged for them
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local haystack = ('a'):rep(16000)
    local needle = ('a'):rep(7999) .. 'b'
    local found = 0
    while true do
      if string.find(haystack, needle, 1, true) then found = found + 1 end
    end
  end,
}
