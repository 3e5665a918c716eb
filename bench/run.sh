#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md, end to end, with one command:
#
#   bash bench/run.sh            # full run (about 6 minutes with the builds done; see BENCHMARKS.md)
#   bash bench/run.sh --smoke    # short run for CI: few runs, N=50 herd; fails if a command fails
#   bash bench/run.sh --update-doc   # full run, then its tables into BENCHMARKS.md (bench/fill-doc.py)
#
# Installs what it needs from Debian when missing (hyperfine, curl, jq, tini, dumb-init,
# valgrind, time, musl-tools, nginx-light, strace, openssl, python3; the full run also
# cargo-bloat from crates.io), builds the static musl release binary and the fake cloud, then
# measures against two servers on loopback: the project's fake cloud, and Debian's nginx
# serving the fake's whoami answer as a static file (HTTP, and HTTPS with an ECDSA P-256
# certificate made here with openssl):
#   1. boot path to the app's exec (hyperfine -N, interleaved rounds, medians), HTTP and HTTPS,
#      beside bench/curl-entrypoint.sh, `tini -s`, dumb-init and bare /bin/true;
#   2. system calls from the entrypoint's execve to the app's execve (strace -f), by kind;
#   3. instructions (callgrind): one HTTPS `check` (release binary) and, in the full run, the
#      exec path up to execve (symbolised `profiling` build) with its top symbols;
#   4. peak RSS (/usr/bin/time -v) and the PID-1 supervisor's VmRSS beside tini's
#      (bench/pid1-compare.sh);
#   5. the binary's size and, in the full run, its ten biggest crates (cargo bloat);
#   6. time to app in the real world: nginx HTTPS behind bench/delay-proxy.py (RTT_MS, 20 ms),
#      by IP address and, where a private mount namespace can point /etc/resolv.conf at the
#      proxy's DNS server, by host name (one more round trip);
#   7. the thundering herd (bench/herd.sh): N entrypoints at once against --rate-limit 200,
#      beside N naive curl loops.
# Results go to bench/results/: summary.md (the tables of BENCHMARKS.md, printed at the end),
# raw JSON, traces and logs. Compare figures as ratios within one run: the machine may be
# shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source bench/lib.sh

SMOKE=0 UPDATE_DOC=0
for a in "$@"; do
    case $a in
        --smoke) SMOKE=1 ;;
        --update-doc) UPDATE_DOC=1 ;;
        *) echo "usage: bash bench/run.sh [--smoke] [--update-doc]" >&2; exit 64 ;;
    esac
done
if [ $SMOKE = 1 ]; then
    ROUNDS=2 RUNS=3 WARMUP=1 HERD_N=50 RSS_RUNS=3 RW_ROUNDS=1 RW_RUNS=2
else
    ROUNDS=${ROUNDS:-15} RUNS=${RUNS:-8} WARMUP=2 HERD_N=${HERD_N:-1000} RSS_RUNS=9
    RW_ROUNDS=${RW_ROUNDS:-5} RW_RUNS=${RW_RUNS:-6}
fi
HERD_RATE=${HERD_RATE:-200}
RTT_MS=${RTT_MS:-20}
OUT=$ROOT/bench/results
rm -rf "$OUT"
mkdir -p "$OUT"
say() { printf '\n=== %s\n' "$*" >&2; }
T0=$SECONDS
phase() { printf '%-28s %4d s\n' "$1" $((SECONDS - T0)) >>"$OUT/phases.txt"; }

# --- tools -------------------------------------------------------------------------------
need=()
for t in hyperfine:hyperfine curl:curl jq:jq tini:tini dumb-init:dumb-init valgrind:valgrind \
    callgrind_annotate:valgrind /usr/bin/time:time musl-gcc:musl-tools cc:gcc nginx:nginx-light \
    strace:strace openssl:openssl python3:python3; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    # Installing nginx must not start Debian's default site (port 80 on every address): no
    # service starts during the install, unless the machine already has a policy.
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    if [ -n "$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
if [ $SMOKE = 0 ] && ! cargo bloat --version >/dev/null 2>&1; then
    say "installing cargo-bloat"
    cargo install --locked cargo-bloat || echo "cargo-bloat not installed: no size breakdown" >&2
fi
phase tools

# --- builds ------------------------------------------------------------------------------
say "build: static musl release binary, fake cloud, recorder"
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --locked --release --target x86_64-unknown-linux-musl
cargo build --locked --release -p fake-cloud
if [ $SMOKE = 0 ]; then cargo build --locked --profile profiling --target x86_64-unknown-linux-musl; fi
SP=$ROOT/target/x86_64-unknown-linux-musl/release/sp-entrypoint
SP_PROF=$ROOT/target/x86_64-unknown-linux-musl/profiling/sp-entrypoint
FAKE=$ROOT/target/release/fake-cloud
RECORDER=$OUT/recorder
cc -O2 -static -o "$RECORDER" bench/recorder.c 2>/dev/null || cc -O2 -o "$RECORDER" bench/recorder.c
CURL_EP=$ROOT/bench/curl-entrypoint.sh
TINI=$(command -v tini)
DUMB=$(command -v dumb-init)
TRUE=$(command -v true)
TRUE=${TRUE:-/bin/true}
[ -x /bin/true ] && TRUE=/bin/true
phase builds

{
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpus:    $(nproc) x $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "kernel:  $(uname -sr)"
    echo "memory:  $(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
    echo "rustc:   $(rustc --version)"
    echo "tools:   $(hyperfine --version), $(curl --version | head -1 | cut -d' ' -f1-2), $(jq --version), $($TINI --version 2>&1 | head -1), dumb-init $($DUMB --version 2>&1 | head -1 | awk '{print $2}'), $(valgrind --version), $(nginx -v 2>&1 | cut -d' ' -f3), $(openssl version | cut -d' ' -f1-2), $(strace -V | head -1)"
    echo "mode:    $([ $SMOKE = 1 ] && echo smoke || echo full)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# --- servers: the fake cloud (HTTP, HTTPS) and nginx (HTTP, HTTPS) ------------------------
# (at nginx's niceness)
start_fake "$OUT/url.http" "$OUT/fake.http.log" nice -n -10 "$FAKE" serve
start_fake "$OUT/url.https" "$OUT/fake.https.log" nice -n -10 "$FAKE" serve --tls --ca-out "$OUT/ca.pem"
URL_HTTP=$(cat "$OUT/url.http")
URL_HTTPS=$(cat "$OUT/url.https")
SYSTEMPROMPT_API_TOKEN=$("$FAKE" mint --email demo@example.com)
export SYSTEMPROMPT_API_TOKEN SYSTEMPROMPT_USER_EMAIL=demo@example.com
# Sections 1 to 7 measure the bootstrap itself, as issue 13's goals define it: the token-lifetime
# watch (default `warn`; on the exec path one fork of a watcher process) is off here, and its
# cost is measured on its own by bench/expiry.sh (BENCHMARKS.md section 8).
export SYSTEMPROMPT_ON_EXPIRY=off
unset SYSTEMPROMPT_LOG SYSTEMPROMPT_INIT SSL_CERT_FILE HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy

# nginx answers every request with the fake's answer to a valid token (the canned body).
NG=$OUT/nginx
mkdir -p "$NG"
export BENCH_HOST=whoami.bench.test # a reserved name; resolved only by the proxy's DNS server
curl -fsS -H "Authorization: Bearer $SYSTEMPROMPT_API_TOKEN" -o "$NG/me.json" "$URL_HTTP/api/v1/auth/me"
make_cert "$NG"
start_nginx "$NG" "$NG/me.json"
pids+=("$NGINX_PID")

# The delaying proxy in front of nginx's HTTPS port (RTT_MS round trip).
nice -n -10 python3 bench/delay-proxy.py --target "${NGINX_HTTPS_URL#https://}" --delay-ms "$(awk -v r="$RTT_MS" 'BEGIN { print r / 2 }')" \
    --port-file "$OUT/proxy.port" --dns-name "$BENCH_HOST" >"$OUT/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$OUT/proxy.port" ] && break; sleep 0.05; done
[ -s "$OUT/proxy.port" ] || { echo "the delay proxy did not start" >&2; cat "$OUT/proxy.log" >&2; exit 1; }
URL_PROXY=https://127.0.0.1:$(cat "$OUT/proxy.port")
URL_PROXY_DNS=https://$BENCH_HOST:$(cat "$OUT/proxy.port")
# By host name: in a private mount namespace whose /etc/resolv.conf names the proxy's DNS server.
printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:1\n' >"$OUT/resolv.conf"
with_dns() { # command... (an executable, not a function)
    SYSTEMPROMPT_API_URL=$URL_PROXY_DNS SSL_CERT_FILE=$NG/ca.pem \
        unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$OUT/resolv.conf" "$@"
}
DNS=0
if with_dns getent hosts "$BENCH_HOST" >/dev/null 2>&1; then DNS=1; fi

fake_http() { SYSTEMPROMPT_API_URL=$URL_HTTP "$@"; }
fake_https() { SYSTEMPROMPT_API_URL=$URL_HTTPS SSL_CERT_FILE=$OUT/ca.pem "$@"; }
nginx_http() { SYSTEMPROMPT_API_URL=$NGINX_HTTP_URL "$@"; }
nginx_https() { SYSTEMPROMPT_API_URL=$NGINX_HTTPS_URL SSL_CERT_FILE=$NG/ca.pem "$@"; }
proxy_https() { SYSTEMPROMPT_API_URL=$URL_PROXY SSL_CERT_FILE=$NG/ca.pem "$@"; }

# Every command must succeed once before it is timed (and hyperfine fails on a non-zero exit).
say "sanity: every entrypoint execs its app, against every server"
for w in fake_http fake_https nginx_http nginx_https proxy_https; do
    $w "$SP" -- "$TRUE"
    $w "$CURL_EP" "$TRUE"
done
"$TINI" -s -- "$TRUE"
if [ $DNS = 1 ]; then
    with_dns "$SP" -- "$TRUE"
    with_dns "$CURL_EP" "$TRUE"
fi
phase servers+sanity

# --- 1. boot path ------------------------------------------------------------------------
say "1. boot path: $ROUNDS interleaved rounds x $RUNS runs"
hf() { # $1 = JSON file, rest = hyperfine -n NAME CMD pairs
    local json=$1
    shift
    hyperfine -N -w "$WARMUP" -r "${HF_RUNS:-$RUNS}" --style none --export-json "$json" "$@" >/dev/null 2>>"$OUT/hyperfine.log"
}
for r in $(seq "$ROUNDS"); do
    nginx_http hf "$OUT/b.$r.1.json" -n sp-http "$SP -- $TRUE" -n tini "$TINI -s -- $TRUE" \
        -n true "$TRUE" -n dumb-init "$DUMB $TRUE" -n curl-http "$CURL_EP $TRUE"
    nginx_https hf "$OUT/b.$r.2.json" -n sp-https "$SP -- $TRUE" -n curl-https "$CURL_EP $TRUE"
    fake_http hf "$OUT/b.$r.3.json" -n sp-http@fake "$SP -- $TRUE" -n curl-http@fake "$CURL_EP $TRUE"
    fake_https hf "$OUT/b.$r.4.json" -n sp-https@fake "$SP -- $TRUE" -n curl-https@fake "$CURL_EP $TRUE"
    jq -s '{results: [.[].results[]]}' "$OUT"/b."$r".[1-4].json >"$OUT/boot-round.$r.json"
done
ROUND_FILES=("$OUT"/boot-round.*.json)
med() { hf_median "$1" "${ROUND_FILES[@]}"; }
ratio() { hf_ratio "$1" "$2" "${ROUND_FILES[@]}"; }
field() { hf_field "$1" "$2" "${ROUND_FILES[@]}"; }
phase boot

# --- 2. system calls ---------------------------------------------------------------------
say "2. system calls from execve to the app's execve (strace -f)"
trace() { # $1 = name, rest = command
    local name=$1
    shift
    strace -f -qq -o "$OUT/strace.$name.txt" "$@" >/dev/null 2>&1
    count_syscalls "$OUT/strace.$name.txt" "$TRUE" >"$OUT/syscalls.$name.txt"
}
nginx_http trace sp-http "$SP" -- "$TRUE"
fake_http trace sp-http@fake "$SP" -- "$TRUE"
nginx_https trace sp-https "$SP" -- "$TRUE"
trace tini "$TINI" -s -- "$TRUE"
nginx_https trace curl-https "$CURL_EP" "$TRUE"
if [ $DNS = 1 ]; then # by host name: the resolver's thread and queries (behind the delaying proxy)
    with_dns strace -f -qq -o "$OUT/strace.sp-https@dns.txt" "$SP" -- "$TRUE" >/dev/null 2>&1
    count_syscalls "$OUT/strace.sp-https@dns.txt" "$TRUE" >"$OUT/syscalls.sp-https@dns.txt"
fi
sc_total() { awk '$1 == "total" { print $2 }' "$OUT/syscalls.$1.txt"; }
phase syscalls

# --- 3. instructions -----------------------------------------------------------------------
say "3. instructions (callgrind)"
cg_total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
nginx_https valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.check" "$SP" check >/dev/null 2>"$OUT/callgrind.log"
IR_CHECK=$(cg_total "$OUT/callgrind.check")
fake_https valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.check-fake" "$SP" check >/dev/null 2>>"$OUT/callgrind.log"
IR_CHECK_FAKE=$(cg_total "$OUT/callgrind.check-fake")
IR_EXEC_HTTP= IR_EXEC_HTTPS=
if [ $SMOKE = 0 ]; then
    # The exec path itself (`-- true`): the profile is dumped when execve is entered.
    nginx_https valgrind --tool=callgrind --dump-before=execve --callgrind-out-file="$OUT/callgrind.exec-https" \
        "$SP_PROF" -- "$TRUE" >/dev/null 2>>"$OUT/callgrind.log"
    nginx_http valgrind --tool=callgrind --dump-before=execve --callgrind-out-file="$OUT/callgrind.exec-http" \
        "$SP_PROF" -- "$TRUE" >/dev/null 2>>"$OUT/callgrind.log"
    IR_EXEC_HTTPS=$(cg_total "$OUT/callgrind.exec-https.1")
    IR_EXEC_HTTP=$(cg_total "$OUT/callgrind.exec-http.1")
    tidy() { sed -E 's|/root/.cargo/registry/src/[^/]+/||; s|/rustc/[0-9a-f]+/library/||; s|/build/musl-cross-make/[^ ]*src_musl/|musl/|'; }
    callgrind_annotate --inclusive=yes "$OUT/callgrind.exec-https.1" >"$OUT/callgrind-exec-inclusive.full" 2>/dev/null
    callgrind_annotate "$OUT/callgrind.exec-https.1" >"$OUT/callgrind-exec-self.full" 2>/dev/null
    sed -n '/PROGRAM TOTALS/,/^-- /p' "$OUT/callgrind-exec-inclusive.full" | sed -n '1,60p' | tidy >"$OUT/callgrind-top-inclusive.txt"
    sed -n '/PROGRAM TOTALS/,/^-- /p' "$OUT/callgrind-exec-self.full" | sed -n '1,30p' | tidy >"$OUT/callgrind-top-self.txt"
fi
phase instructions

# --- 4. memory -----------------------------------------------------------------------------
say "4. memory: peak RSS ($RSS_RUNS runs each), PID-1 supervisor"
maxrss() { # median of max resident (KiB) over RSS_RUNS runs of "$@"
    for _ in $(seq "$RSS_RUNS"); do
        /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/{print $2}'
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
RSS_SP_HTTPS=$(nginx_https maxrss "$SP" -- "$TRUE")
RSS_SP_HTTPS_FAKE=$(fake_https maxrss "$SP" -- "$TRUE")
RSS_SP_HTTP=$(nginx_http maxrss "$SP" -- "$TRUE")
RSS_CURL_HTTPS=$(nginx_https maxrss "$CURL_EP" "$TRUE")
RSS_TINI=$(maxrss "$TINI" -s -- "$TRUE")
RSS_TRUE=$(maxrss "$TRUE")
SP_ENTRYPOINT_BIN=$SP bash bench/pid1-compare.sh >"$OUT/pid1-compare.txt" 2>&1 || {
    cat "$OUT/pid1-compare.txt" >&2
    echo "pid1-compare.sh failed" >&2
    exit 1
}
rss_row() { awk -F'|' -v k="supervisor VmRSS" 'index($1, k) { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); print $2 "|" $3 "|" $4 }' "$OUT/pid1-compare.txt"; }
PID1_RSS=$(rss_row | sed 's/|/ \/ /g')
phase memory

# --- 5. size -------------------------------------------------------------------------------
say "5. size"
SIZE=$(stat -c %s "$SP")
BLOAT=
if [ $SMOKE = 0 ] && cargo bloat --version >/dev/null 2>&1; then
    # The profiling build is the release build with symbols (same code); .text by crate.
    if cargo bloat --locked --profile profiling --target x86_64-unknown-linux-musl --bin sp-entrypoint \
        --crates -n 10 --message-format json >"$OUT/bloat-crates.json" 2>"$OUT/bloat.log"; then
        BLOAT=1
    fi
    size -A "$SP" >"$OUT/sections.txt" 2>/dev/null || true
fi
phase size

# --- 6. real world: nginx HTTPS behind a delaying proxy -------------------------------------
say "6. time to app at ${RTT_MS} ms RTT: $RW_ROUNDS rounds x $RW_RUNS runs"
for r in $(seq "$RW_ROUNDS"); do
    HF_RUNS=$RW_RUNS proxy_https hf "$OUT/rw.$r.1.json" -n sp-https@rtt "$SP -- $TRUE" -n curl-https@rtt "$CURL_EP $TRUE"
    HF_RUNS=$RW_RUNS nginx_https hf "$OUT/rw.$r.2.json" -n sp-https "$SP -- $TRUE" -n curl-https "$CURL_EP $TRUE"
    if [ $DNS = 1 ]; then
        with_dns hyperfine -N -w "$WARMUP" -r "$RW_RUNS" --style none --export-json "$OUT/rw.$r.3.json" \
            -n sp-https@rtt+dns "$SP -- $TRUE" -n curl-https@rtt+dns "$CURL_EP $TRUE" >/dev/null 2>>"$OUT/hyperfine.log"
    fi
    jq -s '{results: [.[].results[]]}' "$OUT"/rw."$r".[1-3].json >"$OUT/rw-round.$r.json"
done
RW_FILES=("$OUT"/rw-round.*.json)
phase real-world

# --- 7. herd -------------------------------------------------------------------------------
say "7. herd: N=$HERD_N at once, --rate-limit $HERD_RATE, HTTPS (fake cloud)"
export FAKE_CLOUD=$FAKE SP_BIN=$SP RECORDER OUT
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
phase herd

# --- tables --------------------------------------------------------------------------------
met() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**not met**"; fi; }
ms2() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "—"; else printf "%.2f ms", v }'; }
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
x() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "—"; else if (v >= 10) printf "%.1f×", v; else printf "%.2f×", v }'; }
R_TINI=$(ratio sp-http tini)
R_TINI_FAKE=$(ratio sp-http@fake tini)
R_CURL=$(ratio curl-https sp-https)
R_CURL_FAKE=$(ratio curl-https@fake sp-https@fake)
R_CURL_HTTP=$(ratio curl-http sp-http)
SC=$(sc_total sp-http)
SC_FAKE=$(sc_total sp-http@fake)
RSS_LIMIT_KIB=2441 # 2.5 MB = 2,500,000 bytes = 2441.4 KiB
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
    echo "### Goals"
    echo
    echo "| goal | against nginx | | against the fake cloud |"
    echo "|---|---|---|---|"
    echo "| HTTP bootstrap ≤ 1.15× \`tini -s -- /bin/true\` | $(x "$R_TINI") | $(met "$R_TINI <= 1.15") | $(x "$R_TINI_FAKE") |"
    echo "| HTTPS bootstrap ≥ 12× faster than curl+jq | $(x "$R_CURL") | $(met "$R_CURL >= 12") | $(x "$R_CURL_FAKE") |"
    echo "| ≤ 50 system calls from execve to the app's execve (HTTP) | $SC | $(met "$SC <= 50") | $SC_FAKE |"
    echo "| static x86_64 binary ≤ 2,400,000 bytes | $(commas "$SIZE") bytes | $(met "$SIZE <= 2400000") | |"
    echo "| peak RSS of an HTTPS bootstrap ≤ 2.5 MB (2441 KiB) | $RSS_SP_HTTPS KiB | $(met "$RSS_SP_HTTPS <= $RSS_LIMIT_KIB") | $RSS_SP_HTTPS_FAKE KiB |"
    echo "| herd: all $HERD_N exec their app | $(hv "$HERD_SP" ok)/$HERD_N | $(met "$(hv "$HERD_SP" ok) == $HERD_N") | (fake cloud only) |"
    echo "| herd: requests ≤ 2.25 N | ${RPN} N | $(met "$RPN <= 2.25") | |"
    echo "| herd: last exec ≤ 1.5 N/R + 1 = $BOUND s | $LAST s | $(met "$LAST <= $BOUND") | |"
    echo
    echo "### 1. Boot path to the app's exec"
    echo
    echo "$ROUNDS interleaved rounds × $RUNS runs (hyperfine -N, $WARMUP warm-ups); every ratio is the median of the rounds' median-to-median ratios."
    echo
    echo "| command | server | median (all runs) | vs \`/bin/true\` | vs \`tini -s\` | user | system |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    row() { # name, label, server
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$3" "$(ms2 "$(med "$1")")" "$(x "$(ratio "$1" true)")" \
            "$(x "$(ratio "$1" tini)")" "$(ms2 "$(field "$1" user)")" "$(ms2 "$(field "$1" system)")"
    }
    row sp-http '`sp-entrypoint -- /bin/true`, HTTP' nginx
    row sp-http@fake '`sp-entrypoint -- /bin/true`, HTTP' fake
    row sp-https '`sp-entrypoint -- /bin/true`, HTTPS' nginx
    row sp-https@fake '`sp-entrypoint -- /bin/true`, HTTPS' fake
    row curl-http 'curl+jq shell entrypoint, HTTP' nginx
    row curl-http@fake 'curl+jq shell entrypoint, HTTP' fake
    row curl-https 'curl+jq shell entrypoint, HTTPS' nginx
    row curl-https@fake 'curl+jq shell entrypoint, HTTPS' fake
    row tini '`tini -s -- /bin/true`' —
    row dumb-init '`dumb-init /bin/true`' —
    row true '`/bin/true`' —
    echo
    echo "curl+jq / sp-entrypoint: HTTPS $(x "$R_CURL") (nginx), $(x "$R_CURL_FAKE") (fake); HTTP $(x "$R_CURL_HTTP") (nginx)."
    echo "user/system: hyperfine's mean per run, median over rounds."
    echo
    echo "### 2. System calls from the entrypoint's execve to the app's execve"
    echo
    echo "strace -f, one run each."
    echo
    names=(sp-http sp-http@fake sp-https tini)
    heads="| system call | sp HTTP (nginx) | sp HTTP (fake) | sp HTTPS (nginx) | \`tini -s\` |"
    if [ -s "$OUT/syscalls.sp-https@dns.txt" ]; then
        names+=(sp-https@dns)
        heads="$heads sp HTTPS by host name (+ DNS) |"
    fi
    echo "$heads"
    echo "|---|$(printf -- '---:|%.0s' "${names[@]}")"
    for n in "${names[@]}"; do awk '$1 != "total" { print $1 }' "$OUT/syscalls.$n.txt"; done | sort -u | while read -r s; do
        printf '| `%s`' "$s"
        for n in "${names[@]}"; do printf ' | %s' "$(awk -v s="$s" '$1 == s { print $2 }' "$OUT/syscalls.$n.txt")"; done
        echo " |"
    done | sort -t'|' -k3,3nr
    printf '| **total**'
    for n in "${names[@]}"; do printf ' | **%s**' "$(sc_total "$n")"; done
    echo " |"
    echo
    echo "curl+jq shell entrypoint, HTTPS (nginx), every process: $(sc_total curl-https) system calls."
    echo
    echo "### 3. Instructions (callgrind)"
    echo
    echo "| measure | instructions |"
    echo "|---|---:|"
    echo "| \`check\`, HTTPS, release binary (nginx) | $(commas "$IR_CHECK") |"
    echo "| \`check\`, HTTPS, release binary (fake) | $(commas "$IR_CHECK_FAKE") |"
    [ -n "$IR_EXEC_HTTPS" ] && echo "| \`-- /bin/true\` up to \`execve\`, HTTPS, profiling build (nginx) | $(commas "$IR_EXEC_HTTPS") |"
    [ -n "$IR_EXEC_HTTP" ] && echo "| \`-- /bin/true\` up to \`execve\`, HTTP, profiling build (nginx) | $(commas "$IR_EXEC_HTTP") |"
    echo
    echo "### 4. Memory"
    echo
    echo "| command | peak RSS (median of $RSS_RUNS) |"
    echo "|---|---:|"
    echo "| sp-entrypoint, HTTPS bootstrap + exec (nginx) | $RSS_SP_HTTPS KiB |"
    echo "| sp-entrypoint, HTTPS bootstrap + exec (fake) | $RSS_SP_HTTPS_FAKE KiB |"
    echo "| sp-entrypoint, HTTP bootstrap + exec (nginx) | $RSS_SP_HTTP KiB |"
    echo "| curl+jq shell entrypoint, HTTPS (nginx) | $RSS_CURL_HTTPS KiB |"
    echo "| \`tini -s -- /bin/true\` | $RSS_TINI KiB |"
    echo "| \`/bin/true\` | $RSS_TRUE KiB |"
    echo
    echo "PID-1 supervisor VmRSS while the app runs, tini / sp / sp-handoff: ${PID1_RSS:-skipped (no unshare)}"
    echo
    echo "### 5. Size"
    echo
    echo "Static binary, stripped: $(commas "$SIZE") bytes ($(awk -v s="$SIZE" 'BEGIN { printf "%.2f", s / 1048576 }') MiB)."
    if [ -n "$BLOAT" ]; then
        echo
        echo "Ten biggest crates (\`cargo bloat --crates\`, .text of the profiling build = the release code):"
        echo
        echo "| crate | .text bytes | share of .text |"
        echo "|---|---:|---:|"
        jq -r '.["text-section-size"] as $t | .crates[:10][] | "| \(.name) | \(.size) | \(.size * 1000 / $t | round / 10)% |"' "$OUT/bloat-crates.json" |
            while IFS='|' read -r _ c b p _; do echo "|$c| $(commas "${b// /}") |$p|"; done
        jq -r '"\n.text: \(.["text-section-size"]) bytes; file: \(.["file-size"]) bytes (unstripped)."' "$OUT/bloat-crates.json"
        if [ -s "$OUT/sections.txt" ]; then
            echo
            echo "Sections of the stripped binary over 10 kB: $(awk '$1 != "Total" && $2 ~ /^[0-9]+$/ && $2 > 10000 { printf "%s%s %d", sep, $1, $2; sep = ", " }' "$OUT/sections.txt")."
        fi
    fi
    echo
    echo "### 6. Time to app at ${RTT_MS} ms RTT"
    echo
    echo "nginx HTTPS behind bench/delay-proxy.py; $RW_ROUNDS interleaved rounds × $RW_RUNS runs; medians of all runs."
    echo
    rw() { hf_median "$1" "${RW_FILES[@]}"; }
    echo "Each entrypoint's time to app, its own work (the same on loopback without delay), and the rest: waiting on the network."
    echo
    echo "| entrypoint | path | time to app | own work (loopback) | waiting on the network | = round trips of ${RTT_MS} ms | own share |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for e in sp-entrypoint:sp curl+jq:curl; do
        for v in "by IP address (TCP, TLS 1.3, request):@rtt" "by host name (+ DNS):@rtt+dns"; do
            t=$(rw "${e#*:}-https${v#*:}")
            [ "$t" = null ] && continue
            awk -v n="${e%%:*}" -v v="${v%:*}" -v t="$t" -v l="$(rw "${e#*:}-https")" -v rtt="$RTT_MS" 'BEGIN {
                printf "| %s | %s | %.1f ms | %.1f ms | %.1f ms | %.2f | %.0f%% |\n", n, v, t, l, t - l, (t - l) / rtt, 100 * l / t }'
        done
    done
    echo
    if [ $DNS = 1 ]; then
        awk -v s="$(rw sp-https@rtt+dns)" -v c="$(rw curl-https@rtt+dns)" -v sl="$(rw sp-https)" -v cl="$(rw curl-https)" -v rtt="$RTT_MS" 'BEGIN {
            printf "By host name at %s ms RTT: curl+jq / sp-entrypoint = %.2f× (%.1f× on loopback).\n", rtt, c / s, cl / sl }'
    else
        awk -v s="$(rw sp-https@rtt)" -v c="$(rw curl-https@rtt)" -v sl="$(rw sp-https)" -v cl="$(rw curl-https)" -v rtt="$RTT_MS" 'BEGIN {
            printf "No private mount namespace here, so no DNS round trip was measured; adding one (%s ms) to both: curl+jq / sp-entrypoint = %.2f× (%.1f× on loopback).\n", rtt, (c + rtt) / (s + rtt), cl / sl }'
    fi
    echo
    echo "### 7. Fleet at boot"
    echo
    echo "N=$HERD_N at once, fake cloud admitting $HERD_RATE req/s (429, Retry-After: 1, beyond), HTTPS."
    echo
    echo "| client | exec'd | requests / N | p50 | p90 | p99 | max (last exec) |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for h in "$HERD_SP" "$HERD_CURL"; do
        printf '| %s | %s/%s | %s | %s s | %s s | %s s | %s s |\n' "$(hv "$h" kind)" "$(hv "$h" ok)" "$HERD_N" \
            "$(hv "$h" req_per_n)" "$(hv "$h" p50)" "$(hv "$h" p90)" "$(hv "$h" p99)" "$(hv "$h" max)"
    done
    echo
    echo "### Time taken by this run"
    echo
    echo '```'
    cat "$OUT/phases.txt"
    echo '```'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
if [ $UPDATE_DOC = 1 ]; then
    if [ $SMOKE = 1 ]; then
        echo "--update-doc: not with --smoke (too few samples); BENCHMARKS.md left alone" >&2
    else
        python3 bench/fill-doc.py "$OUT/summary.md" BENCHMARKS.md
    fi
fi
