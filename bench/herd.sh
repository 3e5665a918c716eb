#!/usr/bin/env bash
# The thundering herd: N clients start at once against the fake cloud admitting R requests/s
# (429 + `Retry-After: 1` beyond). Prints one line of results:
#   kind=... n=... ok=... failed=... requests=... req_per_n=... p50=... p90=... p99=... max=...
# (times in seconds from the release of the barrier to the app's exec).
#
#   bench/herd.sh sp|curl N R http|https   (needs FAKE_CLOUD, SP_BIN, RECORDER; OUT dir)
#
# Barrier: every client is a subshell that blocks opening a FIFO for reading; the driver opens
# it for writing once all N are waiting, which releases them in the same instant. The app is
# `recorder FILE`, which appends its exec time; the naive client is
# `until curl -fsS ...; do sleep 1; done; exec recorder FILE`.
set -euo pipefail
kind=$1 n=$2 rate=$3 scheme=$4
: "${FAKE_CLOUD:?}" "${SP_BIN:?}" "${RECORDER:?}" "${OUT:?}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The fake cloud and any client still running (only after a failure) are killed on exit.
source "$(dirname "$0")/lib.sh"
d=$(mktemp -d "$OUT/herd-$kind.XXXXXX")

tls=()
[ "$scheme" = https ] && tls=(--tls --ca-out "$d/ca.pem")
start_fake "$d/url" "$d/fake.log" "$FAKE_CLOUD" serve "${tls[@]}" --rate-limit "$rate"
fake_pid=${pids[-1]}
url=$(cat "$d/url")
export SYSTEMPROMPT_API_URL=$url SYSTEMPROMPT_USER_EMAIL=demo@example.com
SYSTEMPROMPT_API_TOKEN=$("$FAKE_CLOUD" mint --email demo@example.com)
export SYSTEMPROMPT_API_TOKEN
[ "$scheme" = https ] && export SSL_CERT_FILE=$d/ca.pem

mkfifo "$d/go"
times=$d/times
: >"$d/ready"
clients=()
for i in $(seq "$n"); do
    (
        echo >>"$d/ready"
        exec 3<"$d/go" # blocks until the driver opens the FIFO for writing
        exec 3<&-
        case $kind in
            sp) exec "$SP_BIN" -- "$RECORDER" "$times" ;;
            curl) # the naive loop, bounded to 60 tries
                tries=0
                until curl -fsS -o /dev/null --max-time 10 ${SSL_CERT_FILE:+--cacert "$SSL_CERT_FILE"} \
                    -H "Authorization: Bearer $SYSTEMPROMPT_API_TOKEN" "$url/api/v1/auth/me" 2>/dev/null; do
                    tries=$((tries + 1))
                    [ "$tries" -ge 60 ] && exit 69
                    sleep 1
                done
                exec "$RECORDER" "$times" ;;
        esac
    ) 2>>"$d/clients.log" &
    clients+=($!)
    pids+=($!)
done
# Wait (bounded) until all N are at the barrier, then give the last a moment to block in open().
for _ in $(seq 600); do [ "$(wc -l <"$d/ready")" -ge "$n" ] && break; sleep 0.1; done
sleep 0.5
t0=$(date +%s%N)
exec 4>"$d/go"
failed=0
for p in "${clients[@]}"; do wait "$p" || failed=$((failed + 1)); done
pids=("$fake_pid") # the clients are reaped: their PIDs are not ours to kill any more
exec 4>&-
stats=$(curl -fsS ${SSL_CERT_FILE:+--cacert "$SSL_CERT_FILE"} "$url/_fake/stats")
requests=$(jq -r .requests <<<"$stats")
ok=$(wc -l <"$times" 2>/dev/null || echo 0)
awk -v t0="$t0" '{ printf "%.3f\n", ($1 - t0) / 1e9 }' "$times" | sort -n >"$d/tte"
pct() { awk -v p="$1" '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print a[i] }' "$d/tte"; }
printf 'kind=%s scheme=%s n=%s rate=%s ok=%s failed=%s requests=%s req_per_n=%s p50=%s p90=%s p99=%s max=%s\n' \
    "$kind" "$scheme" "$n" "$rate" "$ok" "$failed" "$requests" "$(awk -v r="$requests" -v n="$n" 'BEGIN{printf "%.2f", r/n}')" \
    "$(pct 0.50)" "$(pct 0.90)" "$(pct 0.99)" "$(pct 1.0)"
