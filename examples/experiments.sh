#!/usr/bin/env bash
# Policy experiments end to end (docs/experiments.md): simulate a recorded history on a file-log DA,
# audit it, then replay it under the policy that made it and two others, with a zone failure and
# added nodes, and write the reports.
#
#   examples/experiments.sh [small|medium|large] [OUT]
#       small (default): 50 nodes, 5,000 events, seconds; medium: 500 nodes, 100,000 events, about a
#       minute; large: 5,000 nodes, 1,000,000 events, several minutes in a release build.
#       OUT (default: a temporary directory) receives the DA and the report.
#   Uses dsdn-coordinator from $DSDN_COORDINATOR, the PATH, or this checkout's debug build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${DSDN_COORDINATOR:-$(command -v dsdn-coordinator || true)}"
if [ -z "$bin" ]; then bin="$(cd "$root" && swift build --show-bin-path)/dsdn-coordinator"; fi
[ -x "$bin" ] || { echo "error: no dsdn-coordinator at $bin (build it: swift build)" >&2; exit 1; }

preset="${1:-small}"
case "$preset" in
    small) fail_height=30; add_height=40 ;;
    medium) fail_height=80; add_height=100 ;;
    large) fail_height=400; add_height=500 ;;
    *) echo "error: the preset must be small, medium or large, got $preset" >&2; exit 2 ;;
esac
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "simulate the $preset preset, placed by weighted-score, into $out/da"
"$bin" simulate --preset "$preset" --out "file:$out/da"

step "audit it: every simulated placement re-executes as recorded"
"$bin" audit --da "file:$out/da"

step "replay it under weighted-score@2 (its own policy), zone-spread and balanced, zone-1 failing at height $fail_height and 20 nodes joining at $add_height"
"$bin" experiment --history "file:$out/da" --policy weighted-score@2 --policy zone-spread --policy balanced \
    --fail "zone-1@$fail_height" --add-nodes "20@$add_height" --out "$out/report"

step "the reports"
ls "$out/report"
echo "open $out/report/report.html in a browser"
