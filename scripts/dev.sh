#!/usr/bin/env bash
# The project's two commands, for a fresh Debian machine with only the Swift toolchain installed:
#   scripts/dev.sh run    set up, build and serve the coordinator on the embedded default (extra
#                         arguments go to `dsdn-coordinator serve`)
#   scripts/dev.sh test   set up, build and run every test; ends with "N passed, N failed"
#   scripts/dev.sh format rewrites the sources in the project's one formatting (.swift-format)
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs the system packages the build needs (liblua5.4-dev, pkg-config) when they are missing.
ensure_system_packages() {
    if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists lua5.4 2>/dev/null; then
        return
    fi
    echo "==> installing liblua5.4-dev and pkg-config" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq liblua5.4-dev pkg-config >/dev/null
    pkg-config --exists lua5.4 || { echo "error: lua5.4 is still not visible to pkg-config" >&2; exit 1; }
}

# Creates .venv-test, the Python environment of the pycelestia commitment cross-check
# (Tests/DSDNCelestiaTests/PycelestiaCommitmentTests.swift), with the pinned packages of
# scripts/pycelestia/requirements.txt, when it is missing or that file has changed since.
ensure_test_venv() {
    local venv=.venv-test requirements=scripts/pycelestia/requirements.txt
    if [ -x "$venv/bin/python3" ] && cmp -s "$requirements" "$venv/requirements.txt"; then
        return
    fi
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "==> installing python3 and python3-venv" >&2
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq python3 python3-venv >/dev/null
    fi
    echo "==> creating $venv with $(grep -m1 '^pycelestia' "$requirements")" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
}

# Installs Chromium, which the headless report tests render HTML with (Tests/CLITests/HeadlessChromiumTests.swift),
# when no chromium, chromium-browser or google-chrome is on PATH. A failed install only warns: those tests then skip.
ensure_chromium() {
    if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then
        return
    fi
    echo "==> installing chromium (headless report tests)" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; }; then
        echo "warning: could not install chromium; the headless Chromium tests will be skipped" >&2
    fi
}

# One formatting configuration (.swift-format), checked with the toolchain's swift-format.
check_format() {
    echo "==> checking formatting (swift format lint; fix with: scripts/dev.sh format)" >&2
    swift format lint --strict --recursive Sources Tests Package.swift policies/PolicyPack.swift
}

run() {
    ensure_system_packages
    echo "==> building dsdn-coordinator" >&2
    swift build --product dsdn-coordinator
    local bin
    bin="$(swift build --show-bin-path)/dsdn-coordinator"
    echo "==> starting the coordinator on the embedded log (.dsdn/da), seeded from examples/small-cluster.jsonl" >&2
    echo "    try: curl -s http://127.0.0.1:45831/v1/state   (Ctrl-C stops it cleanly)" >&2
    exec "$bin" serve --seed examples/small-cluster.jsonl "$@"
}

test_all() {
    ensure_system_packages
    scripts/check-boundaries.sh
    check_format
    ensure_test_venv
    ensure_chromium
    # Warnings are errors in the project's own targets (see Package.swift).
    export DSDN_WERROR=1
    echo "==> building (warnings are errors)" >&2
    swift build --build-tests
    local results=.build/test-results
    rm -rf "$results" && mkdir -p "$results"
    echo "==> running the tests" >&2
    local status=0
    swift test --skip-build --xunit-output "$results/xunit.xml" || status=$?
    scripts/test-summary.sh "$results" || status=1
    return $status
}

case "${1:-}" in
    run) shift; run "$@" ;;
    test) shift; test_all "$@" ;;
    format) swift format format --in-place --recursive Sources Tests Package.swift policies/PolicyPack.swift ;;
    *) echo "usage: scripts/dev.sh run|test|format" >&2; exit 64 ;;
esac
