-- expect: ok
-- phase: decide
-- engine: invalid_result
-- why: a 1,000-byte name with spaces, version 0 and api 2 load in the raw sandbox; the engine must refuse the declaration
return {
  name = string.rep("bad name ", 111), version = 0, api = 2,
  score = function(node, ctx) return node.cpu end,
}
