#!/usr/bin/env bash
# Prints "N passed, N failed" from the xUnit files `swift test --xunit-output` wrote in DIR. Exits 1 when
# a test failed or no test ran at all.
set -euo pipefail
dir="$1"
shopt -s nullglob
files=("$dir"/*.xml)
if [ ${#files[@]} -eq 0 ]; then
    echo "error: no test results in $dir" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
total=0
failed=0
for file in "${files[@]}"; do
    # One <testcase> element per test (a parameterized test counts once), failures nested in it.
    cases=$(grep -o '<testcase ' "$file" | wc -l)
    fails=$(awk '/<testcase /{inside=1; bad=0} inside && /<failure|<error/{bad=1} inside && (/<\/testcase>/ || /<testcase [^>]*\/>/){ if (bad) n++; inside=0 } END{print n+0}' "$file")
    total=$((total + cases))
    failed=$((failed + fails))
done
passed=$((total - failed))
echo "$passed passed, $failed failed"
if [ "$total" -eq 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
