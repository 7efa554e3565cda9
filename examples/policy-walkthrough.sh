#!/usr/bin/env bash
# The policy lifecycle end to end (docs/policies.md §16), against a coordinator of its own:
# the first start publishes the pack's default, zone-spread is published and activated, chunks are
# placed, weighted-score runs in shadow and is tuned, placement is rolled back to it, and the whole
# history is audited. Every change goes through the DA. Prints what changed at each step.
#
#   examples/policy-walkthrough.sh          (uses dsdn-coordinator from $DSDN_COORDINATOR, the PATH,
#                                            or this checkout's debug build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${DSDN_COORDINATOR:-$(command -v dsdn-coordinator || true)}"
if [ -z "$bin" ]; then bin="$(cd "$root" && swift build --show-bin-path)/dsdn-coordinator"; fi
[ -x "$bin" ] || { echo "error: no dsdn-coordinator at $bin (build it: swift build)" >&2; exit 1; }

work="$(mktemp -d)"
serve_pid=""
cleanup() {
    if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "start a coordinator on an empty namespace (file log under $work)"
"$bin" serve --data-dir "$work/coordinator" --da "file:$work/da" --listen 127.0.0.1:0 --batch-interval-ms 50 \
    --seed "$root/examples/small-cluster.jsonl" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 1200); do
    grep -q "API listening" "$work/serve.out" 2>/dev/null && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.1
done
url="$(sed -n 's/.*API listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")"
[ -n "$url" ] || { echo "error: the coordinator never listened" >&2; cat "$work/serve.err" >&2; exit 1; }
export DSDN_API_TOKEN="$(cat "$work/coordinator/api-token")"
api=(--api "$url")
echo "listening on $url"

# Waits (bounded) until every declared chunk has all its live replicas.
wait_placed() {
    for _ in $(seq 1200); do
        "$bin" state show --json "${api[@]}" | grep -q '"under_replicated_chunks":0' && return 0
        sleep 0.1
    done
    echo "error: chunks were not placed" >&2
    return 1
}
# Waits (bounded) until the first start's publication is applied.
for _ in $(seq 1200); do
    "$bin" policy list "${api[@]}" | grep -q '^placement  weighted-score@2' && break
    sleep 0.1
done

step "1. the first start published and activated the pack's default"
"$bin" policy list "${api[@]}"
wait_placed

step "2. publish zone-spread and make it the placement policy"
"$bin" policy publish "$root/policies/zone-spread.lua" --activate --wait "${api[@]}"

step "3. declare a chunk: zone-spread places it, one replica per zone"
"$bin" chunk declare 1111111111111111111111111111111111111111111111111111111111111111 --size 1MiB \
    --replication-factor 3 --uploader walkthrough --wait "${api[@]}"
wait_placed
"$bin" policy history zone-spread "${api[@]}"

step "4. run weighted-score@2 in shadow beside it, and tune one of its weights"
"$bin" policy activate weighted-score@2 --shadow --wait "${api[@]}"
"$bin" policy set weighted-score w_latency=5 --wait "${api[@]}"
"$bin" chunk declare 2222222222222222222222222222222222222222222222222222222222222222 --size 1MiB \
    --replication-factor 2 --uploader walkthrough --wait "${api[@]}"
wait_placed
"$bin" policy list "${api[@]}"

step "5. roll placement back to weighted-score@2 and stop the shadow"
"$bin" policy activate weighted-score@2 --wait "${api[@]}"
"$bin" policy activate --clear-shadow --wait "${api[@]}"
"$bin" chunk declare 3333333333333333333333333333333333333333333333333333333333333333 --size 1MiB \
    --replication-factor 2 --uploader walkthrough --wait "${api[@]}"
wait_placed
"$bin" policy history weighted-score "${api[@]}"

step "6. stop the coordinator and audit every placement against its recorded version"
kill -TERM "$serve_pid"
wait "$serve_pid" || true
serve_pid=""
"$bin" audit --da "file:$work/da"
