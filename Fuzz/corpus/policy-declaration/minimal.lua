return {
  api = 1, name = "minimal", version = 1,
  score = function(node, ctx) return 1 end,
}
