#!/usr/bin/env bash
# Compare sp-entrypoint's PID-1 supervisor with tini: same apps, both as PID 1 of a new PID
# namespace (`unshare --pid --fork --mount-proc`, needs root). Prints a side-by-side table of
# behaviour and the supervisor's VmRSS while an app runs.
#
#   bench/pid1-compare.sh                 # uses the musl release build if present, else debug
#   SP_ENTRYPOINT_BIN=path bench/pid1-compare.sh
#   TINI=/usr/bin/tini GRACE_MS=1000 bench/pid1-compare.sh
#
# Supervisors: tini (`tini --`), sp (`sp-entrypoint __supervise --`, supervising in the process
# that spawned the app) and sp-handoff (`--handoff`: the re-exec path `init::run` takes, i.e.
# what runs in production).
set -u
cd "$(dirname "$0")/.."

BIN=${SP_ENTRYPOINT_BIN:-}
if [ -z "$BIN" ]; then
    for b in target/x86_64-unknown-linux-musl/release/sp-entrypoint target/release/sp-entrypoint target/debug/sp-entrypoint; do
        [ -x "$b" ] && { BIN=$b; break; }
    done
fi
TINI=${TINI:-/usr/bin/tini}
GRACE_MS=${GRACE_MS:-1000}
[ -x "$BIN" ] || { echo "no sp-entrypoint binary (build it, or set SP_ENTRYPOINT_BIN)" >&2; exit 2; }
[ -x "$TINI" ] || { echo "no tini at $TINI" >&2; exit 2; }
unshare --pid --fork --mount-proc true 2>/dev/null || { echo "skipped: unshare --pid not permitted" >&2; exit 0; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

sup_cmd() { # $1 = supervisor name
    case $1 in
        tini) echo "$TINI --" ;;
        sp) echo "$BIN __supervise --grace-ms $GRACE_MS --" ;;
        sp-handoff) echo "$BIN __supervise --grace-ms $GRACE_MS --handoff --" ;;
    esac
}

now_ms() { date +%s%3N; }

# start SUP SCRIPT: runs `unshare ... SUP sh -c SCRIPT` with stdout on fd 3 (a FIFO);
# sets UPID (unshare's pid).
start() {
    rm -f "$T/out" "$T/err" "$T/cleaned" "$T/f"
    mkfifo "$T/out"
    # shellcheck disable=SC2046
    D=$T unshare --pid --fork --mount-proc $(sup_cmd "$1") sh -c "$2" >"$T/out" 2>"$T/err" &
    UPID=$!
    exec 3<"$T/out"
}

# The supervisor's host pid: the child of unshare.
sup_pid() { cut -d' ' -f1 "/proc/$UPID/task/$UPID/children"; }

# Read lines from the app until $1 (bounded).
await() {
    local line
    while read -r -t 10 line <&3; do [ "$line" = "$1" ] && return 0; done
    echo "  (did not see '$1')" >&2
    return 1
}

finish() { # sets rc to the exit code (not in a subshell: `wait` needs our own child)
    wait "$UPID"
    rc=$?
    exec 3<&-
}

declare -A R

for s in tini sp sp-handoff; do
    # 1. SIGTERM, no handler
    start "$s" 'echo ready; exec sleep 30'
    await ready
    t0=$(now_ms); kill -TERM "$(sup_pid)"; finish; t1=$(now_ms)
    R[$s,term]="$rc in $((t1 - t0)) ms"

    # 2. trapped SIGTERM
    start "$s" 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done'
    await ready
    kill -TERM "$(sup_pid)"; finish; R[$s,trap]=$rc

    # 3. SIGINT (docker stop with STOPSIGNAL SIGINT / Fly's default kill_signal), no handler
    start "$s" 'echo ready; exec sleep 30'
    await ready
    kill -INT "$(sup_pid)"; finish; R[$s,int]=$rc

    # 4. app killed by SIGKILL
    start "$s" 'kill -KILL $$'
    finish; R[$s,kill]=$rc

    # 5. orphan reaped?
    start "$s" 'mkfifo "$D/f"; ( sh -c "echo \$\$ > \"$D/f\"" & ); read P < "$D/f"
        i=0; while [ -e /proc/$P ]; do i=$((i+1)); [ $i -gt 300 ] && { echo zombie; exit 1; }; sleep 0.01; done; echo reaped'
    read -r -t 10 line <&3; finish; R[$s,orphan]="$line (exit $rc)"

    # 6. leftover with a SIGTERM handler: did it run before the supervisor exited?
    start "$s" 'mkfifo "$D/f"
        ( trap "echo cleaned > \"$D/cleaned\"; exit 0" TERM; echo up > "$D/f"; while :; do sleep 0.1; done ) &
        read x < "$D/f"; exit 3'
    finish
    if [ -s "$T/cleaned" ]; then R[$s,leftover]="$rc, handler ran"; else R[$s,leftover]="$rc, handler did NOT run"; fi

    # 7. leftover ignoring SIGTERM
    start "$s" 'mkfifo "$D/f"; ( trap "" TERM; echo up > "$D/f"; exec sleep 60 ) &
        read x < "$D/f"; echo exiting; exit 4'
    await exiting
    t0=$(now_ms); finish; t1=$(now_ms)
    R[$s,stubborn]="$rc after $((t1 - t0)) ms"

    # 8. VmRSS of the supervisor while the app runs
    start "$s" 'echo ready; exec sleep 30'
    await ready
    sp=$(sup_pid)
    if [ "$s" = sp-handoff ]; then # wait for the re-exec (bounded)
        for _ in $(seq 200); do tr '\0' ' ' <"/proc/$sp/cmdline" | grep -q -- --child && break; sleep 0.01; done
    fi
    R[$s,rss]=$(awk '/^VmRSS/{print $2" "$3}' "/proc/$sp/status")
    R[$s,env]=$(wc -c <"/proc/$sp/environ")
    kill -TERM "$sp"; finish
done

printf '\nsp-entrypoint: %s (%s bytes)\ntini: %s (%s)\ngrace: %s ms; all as PID 1 of a new PID namespace\n\n' \
    "$BIN" "$(stat -c %s "$BIN")" "$TINI" "$($TINI --version 2>&1 | head -1)" "$GRACE_MS"
printf '%-44s | %-22s | %-22s | %-22s\n' scenario tini sp sp-handoff
printf '%s\n' "---------------------------------------------+------------------------+------------------------+-----------------------"
row() { printf '%-44s | %-22s | %-22s | %-22s\n' "$1" "${R[tini,$2]}" "${R[sp,$2]}" "${R[sp-handoff,$2]}"; }
row "SIGTERM, app without handler: exit, time" term
row "SIGTERM, app traps it (exit 42)" trap
row "SIGINT, app without handler" int
row "app killed by SIGKILL" kill
row "orphan reaped (no zombie)" orphan
row "app exits 3, leftover traps SIGTERM" leftover
row "app exits 4, leftover ignores SIGTERM" stubborn
row "supervisor VmRSS while the app runs" rss
row "supervisor /proc/PID/environ bytes" env
