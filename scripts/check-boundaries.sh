#!/usr/bin/env bash
# Module boundaries are the architecture (docs/architecture.md). Fails when a module imports what it
# must not: the pure core no Foundation, networking, Lua or logging backends; only LuaSandbox the Lua C
# module.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
imports_of() { # module -> "file:line: import X" lines
    grep -rnE '^\s*(@[A-Za-z_]+ )*(public |internal |package |private |fileprivate )?import ' "Sources/$1" --include='*.swift' || true
}
allow_only() { # module, allowed imports...
    local module="$1"; shift
    local allowed=" $* "
    while IFS= read -r line; do
        [ -z "$line" ] && continue
        local name
        name=$(sed -E 's/.*import (class |struct |enum |func |protocol |typealias |var |let )?([A-Za-z0-9_]+).*/\2/' <<<"$line")
        if [[ "$allowed" != *" $name "* ]]; then
            echo "boundary violation: $module may not import $name: $line" >&2
            status=1
        fi
    done < <(imports_of "$module")
}

allow_only DSDNCore Crypto
# The one free-form JSON value imports nothing; the API schema only it and Foundation (no Hummingbird,
# so the CLI and tests can use it).
allow_only DSDNJSON
allow_only DSDNAPI DSDNJSON Foundation FoundationEssentials
allow_only DSDNDA DSDNCore Crypto Collections Synchronization
allow_only DSDNFileLog DSDNDA DSDNCore SystemPackage Glibc Synchronization
allow_only LuaSandbox CDSDNLua CDSDNSandbox Crypto
allow_only DSDNScheduler DSDNCore LuaSandbox Synchronization
allow_only DSDNRuntime DSDNCore DSDNDA Logging Synchronization
# Experiments replay and decide (no DA, no I/O of their own); JSON through FoundationEssentials.
allow_only DSDNExperiment DSDNCore DSDNScheduler DSDNSimulation FoundationEssentials
# The running service composes the runtime with the scheduler, metrics and the HTTP server; the
# Celestia backend keeps its HTTP client to itself.
allow_only DSDNService DSDNAPI DSDNJSON DSDNCore DSDNDA DSDNFileLog DSDNRuntime DSDNScheduler DSDNInterchange Foundation Glibc Synchronization SystemPackage Logging Metrics CoreMetrics Prometheus ServiceLifecycle UnixSignals Hummingbird HummingbirdCore NIOCore NIOPosix NIOHTTP1 NIOHTTPTypes
allow_only DSDNFuzzTargets DSDNAPI DSDNCore DSDNInterchange DSDNJSON DSDNScheduler Foundation
allow_only DSDNCelestia DSDNJSON DSDNCore DSDNDA Crypto AsyncHTTPClient NIOCore NIOHTTP1 Logging Foundation FoundationEssentials Synchronization

# JSONValue lives in DSDNJSON only (one free-form JSON type).
if grep -rnE '(enum|struct|class) +JSONValue\b' Sources --include='*.swift' | grep -v '^Sources/DSDNJSON/'; then
    echo "boundary violation: JSONValue is declared outside DSDNJSON (above)" >&2
    status=1
fi

# Only the sandbox wrapper imports the Lua C modules (the system library and the sandbox's C half).
while IFS= read -r line; do
    [ -z "$line" ] && continue
    case "$line" in
        Sources/LuaSandbox/*) ;;
        *) echo "boundary violation: only LuaSandbox may import the Lua C modules: $line" >&2; status=1 ;;
    esac
done < <(grep -rnE 'import +(CDSDNLua|CDSDNSandbox)' Sources Tests --include='*.swift' || true)

# Tests use Swift Testing only.
if grep -rlq 'import XCTest' Tests; then
    echo "boundary violation: tests must use Swift Testing, not XCTest: $(grep -rl 'import XCTest' Tests)" >&2
    status=1
fi

if [ $status -eq 0 ]; then echo "module boundaries: ok" >&2; fi
exit $status
