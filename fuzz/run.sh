#!/usr/bin/env bash
# Run every fuzz target in turn, one job each: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Prints one line per target (executions, time, result); libFuzzer's log is kept in
# fuzz/logs/<target>.log and any crash in fuzz/artifacts/<target>/. Exit 1 if any target failed.
# FUZZ_BUILD_FLAGS: cargo-fuzz build flags (default -O; e.g. "-O -a" adds debug assertions).
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(token validators config_load timefmt whoami_answer redact)
mkdir -p fuzz/logs
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    rm -f fuzz-0.log
    # shellcheck disable=SC2086 # word-split the flags on purpose
    cargo +nightly fuzz run ${FUZZ_BUILD_FLAGS:--O} "$t" -- -max_total_time="$secs" -jobs=1 >"fuzz/logs/$t.cargo.log" 2>&1
    rc=$?
    mv -f fuzz-0.log "fuzz/logs/$t.log" 2>/dev/null || cp "fuzz/logs/$t.cargo.log" "fuzz/logs/$t.log"
    runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "fuzz/logs/$t.log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ok, ${runs:-finished} (corpus: $(ls "fuzz/corpus/$t" | wc -l) files)"
    else
        failed=1
        last=$(grep -a -o '#[0-9]*' "fuzz/logs/$t.log" | tail -1)
        echo "fuzz $t: FAILED (exit $rc) after ${last:-?} executions; see fuzz/logs/$t.log and fuzz/artifacts/$t/"
        grep -a -A2 'panicked at' "fuzz/logs/$t.log" | head -3
    fi
done
exit $failed
