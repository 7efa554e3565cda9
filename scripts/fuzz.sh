#!/usr/bin/env bash
# Runs every fuzz target under libFuzzer with AddressSanitizer for a fixed number of executions.
#   scripts/fuzz.sh [RUNS] [TARGET...]     RUNS defaults to 1000000; TARGETs default to all four
# Each target starts from its committed corpus (Fuzz/corpus/TARGET, plus policies/ or examples/) and
# grows a working copy under .build-fuzz/corpus. A crash stops the script: the input is saved as
# .build-fuzz/crash-*; fix the cause, then copy the input into Fuzz/corpus/TARGET as a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1000000}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(blob-decoder json-lines policy-declaration api-bodies); fi

echo "==> building dsdn-fuzz with -sanitize=fuzzer,address (.build-fuzz)" >&2
swift build --product dsdn-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
binary="$(swift build --product dsdn-fuzz --scratch-path .build-fuzz --show-bin-path \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING)/dsdn-fuzz"

for target in "${targets[@]}"; do
    work=".build-fuzz/corpus/$target"
    mkdir -p "$work"
    seeds=("Fuzz/corpus/$target")
    case "$target" in
        policy-declaration) seeds+=(policies) ;;
        json-lines) seeds+=(examples) ;;
    esac
    echo "==> $target: $runs executions" >&2
    log=".build-fuzz/$target.log"
    if ! DSDN_FUZZ_TARGET="$target" "$binary" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix=.build-fuzz/ -print_final_stats=1 "$work" "${seeds[@]}" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "error: $target crashed; the input is in .build-fuzz/ (see $log)" >&2
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^Done" "$log" | sed "s/^/    $target: /" >&2
done
echo "fuzzing: ${#targets[@]} target(s), $runs executions each, no crash" >&2
