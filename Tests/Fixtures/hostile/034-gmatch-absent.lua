-- expect: runtime_error
-- phase: decide
-- message: attempt to call a nil value (field 'gmatch')
-- why: string.gmatch (a pattern iterator) does not exist either
return {
  name = "hostile", version = 1, api = 1,
  description = "a hostile or buggy policy",
  score = function(node, ctx)
    local n = 0
    for w in string.gmatch(node.zone, '%a+') do n = n + 1 end
    return n
  end,
}
