#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md, end to end, with one command:
#
#   bash bench/run.sh            # full run (a few minutes; the herd is 1000 processes)
#   bash bench/run.sh --smoke    # short run for CI: few runs, N=50 herd; fails if a command fails
#
# Installs what it needs from Debian when missing (hyperfine, curl, jq, tini, dumb-init,
# valgrind, time, musl-tools), builds the static musl release binary and the fake cloud, then
# measures against the fake cloud on loopback:
#   1. boot path to the app's exec (hyperfine, -N, interleaved rounds, medians), HTTP and HTTPS,
#      beside bench/curl-entrypoint.sh, tini, dumb-init and bare /bin/true;
#   2. instructions of one HTTPS bootstrap (callgrind; `check` mode, since exec ends the
#      profile) and, in the full run, the top symbols from the symbolised `profiling` build;
#   3. peak RSS (/usr/bin/time -v) and the PID-1 supervisor's VmRSS beside tini's
#      (bench/pid1-compare.sh);
#   4. the binary's size;
#   5. the thundering herd (bench/herd.sh): N entrypoints at once against --rate-limit 200,
#      beside N naive curl loops.
# Results go to bench/results/ (summary.md, raw JSON and logs); the tables are printed.
# Compare figures as ratios within one run: the machine may be shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
if [ $SMOKE = 1 ]; then
    ROUNDS=2 RUNS=3 WARMUP=1 HERD_N=50 RSS_RUNS=3
else
    ROUNDS=${ROUNDS:-15} RUNS=${RUNS:-8} WARMUP=2 HERD_N=${HERD_N:-1000} RSS_RUNS=9
fi
HERD_RATE=${HERD_RATE:-200}
OUT=$ROOT/bench/results
rm -rf "$OUT"
mkdir -p "$OUT"
say() { printf '\n=== %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
need=()
for t in hyperfine:hyperfine curl:curl jq:jq tini:tini dumb-init:dumb-init valgrind:valgrind \
    callgrind_annotate:valgrind /usr/bin/time:time musl-gcc:musl-tools cc:gcc; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# --- builds ------------------------------------------------------------------------------
say "build: static musl release binary, fake cloud, recorder"
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --locked --release --target x86_64-unknown-linux-musl
cargo build --locked --release -p fake-cloud
SP=$ROOT/target/x86_64-unknown-linux-musl/release/sp-entrypoint
FAKE=$ROOT/target/release/fake-cloud
RECORDER=$OUT/recorder
cc -O2 -static -o "$RECORDER" bench/recorder.c 2>/dev/null || cc -O2 -o "$RECORDER" bench/recorder.c
CURL_EP=$ROOT/bench/curl-entrypoint.sh
TINI=$(command -v tini)
DUMB=$(command -v dumb-init)
TRUE=$(command -v true)
TRUE=${TRUE:-/bin/true}
[ -x /bin/true ] && TRUE=/bin/true

{
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpus:    $(nproc) x $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "kernel:  $(uname -sr)"
    echo "memory:  $(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
    echo "rustc:   $(rustc --version)"
    echo "tools:   $(hyperfine --version), $(curl --version | head -1 | cut -d' ' -f1-2), $(jq --version), $($TINI --version 2>&1 | head -1), dumb-init $($DUMB --version 2>&1 | head -1 | awk '{print $2}'), $(valgrind --version)"
    echo "mode:    $([ $SMOKE = 1 ] && echo smoke || echo full)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# --- fake clouds (HTTP and HTTPS) ---------------------------------------------------------
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; true; }
trap cleanup EXIT
start_fake() { # $1 = name, rest = options; sets URL_<name>
    "$FAKE" serve "${@:2}" --url-file "$OUT/url.$1" -q >"$OUT/fake.$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$OUT/url.$1" ] && return 0; sleep 0.05; done
    echo "the fake cloud ($1) did not start" >&2
    exit 1
}
start_fake http
start_fake https --tls --ca-out "$OUT/ca.pem"
URL_HTTP=$(cat "$OUT/url.http")
URL_HTTPS=$(cat "$OUT/url.https")
SYSTEMPROMPT_API_TOKEN=$("$FAKE" mint --email demo@example.com)
export SYSTEMPROMPT_API_TOKEN SYSTEMPROMPT_USER_EMAIL=demo@example.com
unset SYSTEMPROMPT_LOG SYSTEMPROMPT_INIT SSL_CERT_FILE HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy

with_http() { SYSTEMPROMPT_API_URL=$URL_HTTP "$@"; }
with_https() { SYSTEMPROMPT_API_URL=$URL_HTTPS SSL_CERT_FILE=$OUT/ca.pem "$@"; }

# Every command must succeed once before it is timed (and hyperfine fails on a non-zero exit).
say "sanity: every entrypoint execs its app"
with_http "$SP" -- "$TRUE"
with_https "$SP" -- "$TRUE"
with_http "$CURL_EP" "$TRUE"
with_https "$CURL_EP" "$TRUE"

# --- 1. boot path ------------------------------------------------------------------------
say "1. boot path: $ROUNDS interleaved rounds x $RUNS runs"
for r in $(seq "$ROUNDS"); do
    with_https hyperfine -N -w "$WARMUP" -r "$RUNS" --style none --export-json "$OUT/boot-https.$r.json" \
        -n sp-https "$SP -- $TRUE" \
        -n curl-https "$CURL_EP $TRUE" \
        -n tini "$TINI -- $TRUE" \
        -n dumb-init "$DUMB $TRUE" \
        -n true "$TRUE" >/dev/null 2>>"$OUT/hyperfine.log"
    with_http hyperfine -N -w "$WARMUP" -r "$RUNS" --style none --export-json "$OUT/boot-http.$r.json" \
        -n sp-http "$SP -- $TRUE" \
        -n curl-http "$CURL_EP $TRUE" >/dev/null 2>>"$OUT/hyperfine.log"
    jq -s '{results: [.[].results[]]}' "$OUT/boot-https.$r.json" "$OUT/boot-http.$r.json" >"$OUT/boot-round.$r.json"
done
# name -> median of all samples (ms), over all rounds
jq -s '[.[].results[]] | group_by(.command) | map({key: .[0].command, value:
        ([.[].times[]] | sort | (if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end) * 1000),
        n: ([.[].times[]] | length)}) | map({(.key): {median_ms: .value, samples: .n}}) | add' \
    "$OUT"/boot-round.*.json >"$OUT/boot-medians.json"
med() { jq -r --arg k "$1" '.[$k].median_ms' "$OUT/boot-medians.json"; }
# A/B: the median over rounds of (A's median / B's median) in that round. Pairing by round keeps
# the ratio meaningful when the machine's speed drifts (HTTP and HTTPS rounds run back to back).
ratio() {
    jq -rs --arg a "$1" --arg b "$2" '
        def median: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
        def m($k): [.[] | .results[] | select(.command == $k) | .median];
        [m($a), m($b)] | transpose | map(.[0] / .[1]) | median * 100 | round / 100' \
        "$OUT"/boot-round.*.json
}

# --- 2. instructions -----------------------------------------------------------------------
say "2. instructions of one HTTPS bootstrap (callgrind, check mode)"
cg_total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
with_https valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.release" "$SP" check >/dev/null 2>"$OUT/callgrind.log"
IR=$(cg_total "$OUT/callgrind.release")
IR_EXEC=
if [ $SMOKE = 0 ]; then
    cargo build --locked --profile profiling --target x86_64-unknown-linux-musl
    with_https valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.profiling" \
        target/x86_64-unknown-linux-musl/profiling/sp-entrypoint check >/dev/null 2>>"$OUT/callgrind.log"
    # The exec path itself (`-- true`): dump the profile when execve is entered.
    with_https valgrind --tool=callgrind --dump-before=execve --callgrind-out-file="$OUT/callgrind.exec" \
        target/x86_64-unknown-linux-musl/profiling/sp-entrypoint -- "$TRUE" >/dev/null 2>>"$OUT/callgrind.log"
    IR_EXEC=$(cg_total "$OUT/callgrind.exec.1")
    tidy() { sed -E 's|/root/.cargo/registry/src/[^/]+/||; s|/rustc/[0-9a-f]+/library/||; s|/build/musl-cross-make/[^ ]*src_musl/|musl/|'; }
    callgrind_annotate --inclusive=yes "$OUT/callgrind.exec.1" >"$OUT/callgrind-exec-inclusive.full" 2>/dev/null
    callgrind_annotate "$OUT/callgrind.exec.1" >"$OUT/callgrind-exec-self.full" 2>/dev/null
    sed -n '/PROGRAM TOTALS/,/^-- /p' "$OUT/callgrind-exec-inclusive.full" | sed -n '1,60p' | tidy >"$OUT/callgrind-top-inclusive.txt"
    sed -n '/PROGRAM TOTALS/,/^-- /p' "$OUT/callgrind-exec-self.full" | sed -n '1,30p' | tidy >"$OUT/callgrind-top-self.txt"
fi

# --- 3. memory -----------------------------------------------------------------------------
say "3. memory: peak RSS ($RSS_RUNS runs each), PID-1 supervisor"
maxrss() { # median of max resident (KiB) over RSS_RUNS runs of "$@"
    for _ in $(seq "$RSS_RUNS"); do
        /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/{print $2}'
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
RSS_SP_HTTPS=$(with_https maxrss "$SP" -- "$TRUE")
RSS_SP_HTTP=$(with_http maxrss "$SP" -- "$TRUE")
RSS_CURL_HTTPS=$(with_https maxrss "$CURL_EP" "$TRUE")
RSS_TINI=$(maxrss "$TINI" -- "$TRUE")
RSS_TRUE=$(maxrss "$TRUE")
SP_ENTRYPOINT_BIN=$SP bash bench/pid1-compare.sh >"$OUT/pid1-compare.txt" 2>&1 || {
    cat "$OUT/pid1-compare.txt" >&2
    echo "pid1-compare.sh failed" >&2
    exit 1
}
rss_row() { awk -F'|' -v k="supervisor VmRSS" 'index($1, k) { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); print $2 "|" $3 "|" $4 }' "$OUT/pid1-compare.txt"; }
PID1_RSS=$(rss_row | sed 's/|/ \/ /g')

# --- 4. size -------------------------------------------------------------------------------
SIZE=$(stat -c %s "$SP")

# --- 5. herd -------------------------------------------------------------------------------
say "5. herd: N=$HERD_N at once, --rate-limit $HERD_RATE, HTTPS"
export FAKE_CLOUD=$FAKE SP_BIN=$SP RECORDER OUT
unset SYSTEMPROMPT_API_URL
HERD_SP=$(timeout 300 bash bench/herd.sh sp "$HERD_N" "$HERD_RATE" https)
HERD_CURL=$(timeout 300 bash bench/herd.sh curl "$HERD_N" "$HERD_RATE" https)
echo "$HERD_SP" >"$OUT/herd.txt"
echo "$HERD_CURL" >>"$OUT/herd.txt"
hv() { sed -n "s/\(^\|.* \)$2=\([^ ]*\).*/\2/p" <<<"$1"; }
for h in "$HERD_SP" "$HERD_CURL"; do
    [ "$(hv "$h" failed)" = 0 ] && [ "$(hv "$h" ok)" = "$HERD_N" ] || {
        echo "herd: not every client exec'd its app: $h" >&2
        exit 1
    }
done

# --- tables --------------------------------------------------------------------------------
met() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**not met**"; fi; }
R_CURL=$(ratio curl-https sp-https)
R_TINI=$(ratio sp-http tini)
LAST=$(hv "$HERD_SP" max)
RPN=$(hv "$HERD_SP" req_per_n)
BOUND=$(awk -v n="$HERD_N" -v r="$HERD_RATE" 'BEGIN { printf "%.1f", 1.5 * n / r + 1 }')
{
    echo "## Results ($([ $SMOKE = 1 ] && echo 'smoke run: too few samples to judge' || echo 'full run'))"
    echo
    echo '```'
    cat "$OUT/machine.txt"
    echo '```'
    echo
    echo "### Boot path to the app's exec ($ROUNDS interleaved rounds x $RUNS runs; ratios: median of the rounds' ratios)"
    echo
    echo "| command | median (all runs) | vs /bin/true | vs tini |"
    echo "|---|---:|---:|---:|"
    for k in sp-http sp-https curl-http curl-https tini dumb-init true; do
        printf '| %s | %.2f ms | %s× | %s× |\n' "$k" "$(med "$k")" "$(ratio "$k" true)" "$(ratio "$k" tini)"
    done
    echo
    echo "| goal | figure | |"
    echo "|---|---|---|"
    echo "| HTTPS: ≥ 10× faster than curl+jq shell | curl-https / sp-https = ${R_CURL}× | $(met "$R_CURL >= 10") |"
    echo "| HTTP bootstrap ≤ 1.25× tini | sp-http / tini = ${R_TINI}× | $(met "$R_TINI <= 1.25") |"
    echo
    echo "### Instructions, memory, size"
    echo
    echo "| measure | figure | goal | |"
    echo "|---|---|---|---|"
    echo "| instructions, one HTTPS bootstrap (\`check\`, release binary) | $IR | — | |"
    [ -n "$IR_EXEC" ] && echo "| instructions, HTTPS bootstrap up to \`execve\` (\`-- true\`, profiling build) | $IR_EXEC | — | |"
    echo "| peak RSS, HTTPS bootstrap + exec | $RSS_SP_HTTPS KiB | ≤ 3 MB (3072 KiB) | $(met "$RSS_SP_HTTPS <= 3072") |"
    echo "| peak RSS, HTTP bootstrap + exec | $RSS_SP_HTTP KiB | | |"
    echo "| peak RSS, curl+jq shell (HTTPS) | $RSS_CURL_HTTPS KiB | | |"
    echo "| peak RSS, tini -- true / true | $RSS_TINI / $RSS_TRUE KiB | | |"
    echo "| PID-1 supervisor VmRSS while the app runs: tini / sp / sp-handoff | ${PID1_RSS:-skipped (no unshare)} | | |"
    echo "| static binary, stripped | $SIZE bytes ($(awk -v s="$SIZE" 'BEGIN { printf "%.2f", s / 1048576 }') MiB) | ≤ 2.5 MB | $(met "$SIZE <= 2500000") |"
    echo
    echo "### Fleet at boot: N=$HERD_N at once, fake cloud admitting $HERD_RATE req/s (429, Retry-After: 1, beyond), HTTPS"
    echo
    echo "| client | exec'd | requests / N | p50 | p90 | p99 | max (last exec) |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for h in "$HERD_SP" "$HERD_CURL"; do
        printf '| %s | %s/%s | %s | %s s | %s s | %s s | %s s |\n' "$(hv "$h" kind)" "$(hv "$h" ok)" "$HERD_N" \
            "$(hv "$h" req_per_n)" "$(hv "$h" p50)" "$(hv "$h" p90)" "$(hv "$h" p99)" "$(hv "$h" max)"
    done
    echo
    echo "| goal | figure | |"
    echo "|---|---|---|"
    echo "| all $HERD_N exec their app | $(hv "$HERD_SP" ok)/$HERD_N | $(met "$(hv "$HERD_SP" ok) == $HERD_N") |"
    echo "| requests ≤ 2.25 N | ${RPN} N | $(met "$RPN <= 2.25") |"
    echo "| last exec ≤ 1.5 N/R + 1 = $BOUND s | $LAST s | $(met "$LAST <= $BOUND") |"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
