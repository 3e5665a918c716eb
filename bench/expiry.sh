#!/usr/bin/env bash
# The token-expiry watch's cost (BENCHMARKS.md, "8. The token-expiry watch"):
#
#   bash bench/expiry.sh           # full run (a few minutes)
#   bash bench/expiry.sh --smoke   # few samples; fails when a command fails
#
# Against `fake-cloud serve` on 127.0.0.1 (HTTP), with the static musl release binary:
#   1. boot time on the exec path: `sp-entrypoint --on-expiry warn -- /bin/true` (the watcher is
#      forked before the exec) vs `--on-expiry off` (no watcher), hyperfine -N, interleaved
#      rounds; the ratio is the median over rounds of each round's median-to-median ratio;
#   2. peak RSS of the bootstrap (/usr/bin/time -v), warn vs off;
#   3. the watcher's VmRSS while the app runs (exec path, in a PID namespace), beside the app
#      (`sleep`) itself;
#   4. the supervisor's VmRSS while the app runs (as PID 1 of a PID namespace), warn vs off;
#   6. the spawn's own system calls: pidfd_open, fork and wait4 durations (strace -T).
#   5. system calls of the entrypoint's own process (strace -c, not following forks; it
#      counts /bin/true after the exec too, the same in both), warn vs off.
# Results go to bench/results/expiry/ (raw JSON, logs, summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
if [ $SMOKE = 1 ]; then
    ROUNDS=2 RUNS=5 WARMUP=1 SAMPLES=3
else
    ROUNDS=${ROUNDS:-15} RUNS=${RUNS:-10} WARMUP=3 SAMPLES=${SAMPLES:-9}
fi
OUT=$ROOT/bench/results/expiry
rm -rf "$OUT"
mkdir -p "$OUT"
say() { printf '\n=== %s\n' "$*" >&2; }

need=()
for t in hyperfine:hyperfine jq:jq /usr/bin/time:time strace:strace unshare:util-linux; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

say "build: static musl release binary, fake cloud"
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --locked --release --target x86_64-unknown-linux-musl
cargo build --locked --release -p fake-cloud
SP=$ROOT/target/x86_64-unknown-linux-musl/release/sp-entrypoint
FAKE=$ROOT/target/release/fake-cloud
TRUE=/bin/true
[ -x "$TRUE" ] || TRUE=$(command -v true)

{
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpus:    $(nproc) x $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "kernel:  $(uname -sr)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
    echo "tools:   $(hyperfine --version), $(strace -V | head -1)"
    echo "mode:    $([ $SMOKE = 1 ] && echo smoke || echo full)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

source bench/lib.sh
start_fake "$OUT/url" "$OUT/fake.log" "$FAKE" serve
SYSTEMPROMPT_API_URL=$(cat "$OUT/url")
SYSTEMPROMPT_API_TOKEN=$("$FAKE" mint --email demo@example.com)
export SYSTEMPROMPT_API_URL SYSTEMPROMPT_API_TOKEN SYSTEMPROMPT_USER_EMAIL=demo@example.com
unset SYSTEMPROMPT_LOG SYSTEMPROMPT_INIT SYSTEMPROMPT_ON_EXPIRY SSL_CERT_FILE HTTPS_PROXY HTTP_PROXY

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

say "sanity"
"$SP" --on-expiry warn -- "$TRUE"
"$SP" --on-expiry off -- "$TRUE"

# --- 1. boot time ------------------------------------------------------------------------
say "1. boot time, exec path: $ROUNDS rounds x $RUNS runs"
for r in $(seq "$ROUNDS"); do
    # The order alternates between rounds, so that neither mode always runs first.
    if [ $((r % 2)) = 1 ]; then order=(warn off default); else order=(off warn default); fi
    args=()
    for m in "${order[@]}"; do
        case $m in
            default) args+=(-n default "$SP -- $TRUE") ;;
            *) args+=(-n "$m" "$SP --on-expiry $m -- $TRUE") ;;
        esac
    done
    hyperfine -N -w "$WARMUP" -r "$RUNS" --style none --export-json "$OUT/boot.$r.json" \
        "${args[@]}" >/dev/null 2>>"$OUT/hyperfine.log"
done
jq -s '[.[].results[]] | group_by(.command) | map({(.[0].command): ([.[].times[]] | sort |
        (if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end) * 1000)}) | add' \
    "$OUT"/boot.*.json >"$OUT/boot-medians.json"
ratio() {
    jq -rs --arg a "$1" --arg b "$2" '
        def median: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
        def m($k): [.[] | .results[] | select(.command == $k) | .median];
        [m($a), m($b)] | transpose | map(.[0] / .[1]) | median * 1000 | round / 1000' "$OUT"/boot.*.json
}
ms() { jq -r --arg k "$1" '.[$k] * 1000 | round / 1000' "$OUT/boot-medians.json"; }

# --- 2. peak RSS of the bootstrap ----------------------------------------------------------
say "2. peak RSS of the bootstrap"
peak() { # $1 = mode
    for _ in $(seq "$SAMPLES"); do
        /usr/bin/time -v "$SP" --on-expiry "$1" -- "$TRUE" 2>&1 >/dev/null |
            awk -F': ' '/Maximum resident set size/ {print $2}'
    done | median
}
PEAK_WARN=$(peak warn)
PEAK_OFF=$(peak off)

# --- 3. the watcher's VmRSS, and the app's -----------------------------------------------
say "3. the watcher's VmRSS while the app runs (exec path, PID namespace)"
NS=1
unshare --pid --fork --mount-proc true 2>/dev/null || {
    NS=0
    echo "skipped: sections 3 and 4 (VmRSS): unshare --pid is not permitted here" >&2
}
# PID 1 is a shell; the entrypoint execs `sleep`; the shell prints the watcher's and the app's
# VmRSS once the watcher is up (bounded wait), then ends the app.
WATCH_SCRIPT='
"$SP" -- sleep 30 & app=$!
i=0; w=""
while [ -z "$w" ] && [ $i -lt 500 ]; do
    for p in /proc/[0-9]*; do
        [ "$(tr "\0" "\n" < $p/cmdline 2>/dev/null | sed -n 2p)" = __watch ] && w=${p#/proc/}
    done
    i=$((i+1)); [ -z "$w" ] && sleep 0.01
done
until ls -l /proc/$w/fd 2>/dev/null | grep -q timerfd || [ $i -gt 1000 ]; do i=$((i+1)); sleep 0.01; done
until [ "$(readlink /proc/$app/exe)" != "$SP" ] || [ $i -gt 1500 ]; do i=$((i+1)); sleep 0.01; done
echo "$(sed -n "s/^VmRSS:[[:space:]]*//p" /proc/$w/status) $(sed -n "s/^VmRSS:[[:space:]]*//p" /proc/$app/status) $(sed -n "s/^RssAnon:[[:space:]]*//p" /proc/$w/status)"
kill $app; wait $app 2>/dev/null; true
'
WATCHER_RSS=skipped APP_RSS=skipped WATCHER_ANON=skipped
SUP_WARN=skipped SUP_OFF=skipped SUP_WARN_ANON=skipped SUP_OFF_ANON=skipped
if [ $NS = 1 ]; then
    for _ in $(seq "$SAMPLES"); do
        SP=$SP unshare --pid --fork --mount-proc sh -c "$WATCH_SCRIPT"
    done >"$OUT/watcher-rss.txt"
    WATCHER_RSS=$(awk '{print $1}' "$OUT/watcher-rss.txt" | median)
    APP_RSS=$(awk '{print $3}' "$OUT/watcher-rss.txt" | median)
    WATCHER_ANON=$(awk '{print $5}' "$OUT/watcher-rss.txt" | median)
fi

# --- 4. the supervisor's VmRSS, warn vs off ---------------------------------------------
say "4. the supervisor's VmRSS as PID 1, warn vs off"
sup_rss() { # $1 = mode, $2 = field (VmRSS or RssAnon): the namespace PID 1 is the entrypoint
    # itself, then the lean supervisor
    for _ in $(seq "$SAMPLES"); do
        f=$(mktemp -u)
        mkfifo "$f"
        unshare --pid --fork --mount-proc "$SP" --on-expiry "$1" -- sh -c 'echo ready; exec sleep 30' >"$f" 2>/dev/null &
        u=$!
        read -r _ <"$f" # the app is up: the hand-off has happened or is about to
        sup=$(cut -d' ' -f1 "/proc/$u/task/$u/children")
        for _ in $(seq 200); do grep -q __supervise "/proc/$sup/cmdline" 2>/dev/null && break; sleep 0.01; done
        if [ "$1" = warn ]; then
            for _ in $(seq 200); do ls -l "/proc/$sup/fd" 2>/dev/null | grep -q timerfd && break; sleep 0.01; done
        fi
        sed -n "s/^$2:[[:space:]]*//p" "/proc/$sup/status" | awk '{print $1}'
        kill -TERM "$sup"
        wait "$u" 2>/dev/null || true
        rm -f "$f"
    done | median
}
if [ $NS = 1 ]; then
    SUP_WARN=$(sup_rss warn VmRSS)
    SUP_OFF=$(sup_rss off VmRSS)
    SUP_WARN_ANON=$(sup_rss warn RssAnon)
    SUP_OFF_ANON=$(sup_rss off RssAnon)
fi

# --- 5. system calls up to the exec ----------------------------------------------------------
say "5. system calls of the bootstrap's own process (strace -c)"
sys() { # $1 = mode: total calls of the entrypoint process until its exec of /bin/true
    strace -c -o "$OUT/strace.$1.txt" "$SP" --on-expiry "$1" -- "$TRUE" 2>/dev/null
    awk '$NF == "total" {print $4}' "$OUT/strace.$1.txt"
}
SYS_WARN=$(sys warn)
SYS_OFF=$(sys off)

# --- 6. the spawn's own system calls ------------------------------------------------------
say "6. the watcher's spawn on the exec path: fork and wait4 durations (strace -T)"
for i in $(seq "$SAMPLES"); do
    strace -T --seccomp-bpf -e trace=pidfd_open,fork,wait4 -o "$OUT/spawn.$i.txt" "$SP" -- "$TRUE" 2>/dev/null
done
call_us() { # $1 = system call: median duration in microseconds
    cat "$OUT"/spawn.*.txt | awk -F'<' -v c="$1" '$1 ~ "^"c"\\(" {sub(">", "", $NF); print $NF * 1000000}' | median
}
FORK_US=$(call_us fork)
WAIT_US=$(call_us wait4)
PIDFD_US=$(call_us pidfd_open)

{
    echo "## The token-expiry watch ($([ $SMOKE = 1 ] && echo smoke || echo full) run)"
    echo
    echo '```'
    cat "$OUT/machine.txt"
    echo '```'
    echo
    echo "| measure | --on-expiry warn | --on-expiry off | ratio |"
    echo "|---|---:|---:|---:|"
    echo "| boot to the app's exit, exec path, HTTP (median of $((ROUNDS * RUNS))) | $(ms warn) ms | $(ms off) ms | $(ratio warn off) |"
    echo "| peak RSS of the bootstrap (median of $SAMPLES) | $PEAK_WARN KiB | $PEAK_OFF KiB | |"
    echo "| supervisor VmRSS as PID 1 while the app runs (median of $SAMPLES) | $SUP_WARN kB | $SUP_OFF kB | |"
    echo "| … of which RssAnon (private: heap, stack, data) | $SUP_WARN_ANON kB | $SUP_OFF_ANON kB | |"
    echo "| system calls of the entrypoint process (then /bin/true, the same in both) | $SYS_WARN | $SYS_OFF | |"
    echo
    echo "Exec-path watcher VmRSS while the app runs: $WATCHER_RSS, of which RssAnon $WATCHER_ANON kB (the app, \`sleep\`: $APP_RSS), median of $SAMPLES."
    echo "The spawn in the bootstrap (strace -T, median of $SAMPLES): pidfd_open $PIDFD_US µs, fork $FORK_US µs, wait4 for the intermediate child $WAIT_US µs."
    echo "Default form (\`sp-entrypoint -- /bin/true\`, warn, clap fast path): $(ms default) ms."
} | tee "$OUT/summary.md"
