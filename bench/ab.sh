#!/usr/bin/env bash
# Before/after of one change, the way BENCHMARKS.md's table of changes reports it: two builds
# of sp-entrypoint against nginx on loopback (HTTP and HTTPS), interleaved with
# `tini -s -- /bin/true`.
#
#   bash bench/ab.sh BEFORE_BIN AFTER_BIN [BEFORE_PROFILING_BIN AFTER_PROFILING_BIN]
#
# Prints: size; system calls from execve to the app's execve (HTTP); instructions up to the
# app's execve (callgrind, --dump-before=execve; on the profiling builds when given); peak RSS
# of an HTTPS bootstrap; and, from ROUNDS (10) interleaved hyperfine rounds of RUNS (10) runs,
# the median of the rounds' after/before and x/tini ratios. Needs the tools bench/run.sh
# installs and the fake cloud built (`cargo build --release -p fake-cloud`, for the token and
# the canned body). Raw files under bench/results-ab/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source bench/lib.sh
A=$(realpath "$1") B=$(realpath "$2")
PA=$(realpath "${3:-$1}") PB=$(realpath "${4:-$2}")
ROUNDS=${ROUNDS:-10} RUNS=${RUNS:-10}
OUT=$ROOT/bench/results-ab
rm -rf "$OUT"
mkdir -p "$OUT/nginx"
FAKE=$ROOT/target/release/fake-cloud
TRUE=/bin/true
TINI=$(command -v tini)

start_fake "$OUT/url" "$OUT/fake.log" "$FAKE" serve
SYSTEMPROMPT_API_TOKEN=$("$FAKE" mint --email demo@example.com)
export SYSTEMPROMPT_API_TOKEN SYSTEMPROMPT_USER_EMAIL=demo@example.com
unset SYSTEMPROMPT_LOG SYSTEMPROMPT_INIT SSL_CERT_FILE HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy
curl -fsS -H "Authorization: Bearer $SYSTEMPROMPT_API_TOKEN" -o "$OUT/nginx/me.json" "$(cat "$OUT/url")/api/v1/auth/me"
make_cert "$OUT/nginx"
start_nginx "$OUT/nginx" "$OUT/nginx/me.json"
pids+=("$NGINX_PID")
http() { SYSTEMPROMPT_API_URL=$NGINX_HTTP_URL "$@"; }
https() { SYSTEMPROMPT_API_URL=$NGINX_HTTPS_URL SSL_CERT_FILE=$OUT/nginx/ca.pem "$@"; }
for b in "$A" "$B" "$PA" "$PB"; do http "$b" -- "$TRUE" 2>/dev/null; https "$b" -- "$TRUE" 2>/dev/null; done

cg() { # $1 = out name, rest = command; instructions up to the app's execve
    valgrind --tool=callgrind --dump-before=execve --callgrind-out-file="$OUT/cg.$1" "${@:2}" >/dev/null 2>>"$OUT/cg.log"
    awk '/^(summary|totals):/ { print $2; exit }' "$OUT/cg.$1.1"
}
sc() { # $1 = name, rest = command
    strace -f -qq -o "$OUT/strace.$1" "${@:2}" >/dev/null 2>&1
    count_syscalls "$OUT/strace.$1" "$TRUE" >"$OUT/syscalls.$1"
    awk '$1 == "total" { print $2 }' "$OUT/syscalls.$1"
}
rss() {
    for _ in 1 2 3 4 5; do /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/{print $2}'; done |
        sort -n | sed -n 3p
}
echo "size:            $(stat -c %s "$A") -> $(stat -c %s "$B") bytes"
echo "syscalls (HTTP): $(http sc a "$A" -- "$TRUE") -> $(http sc b "$B" -- "$TRUE")   (by kind: $OUT/syscalls.{a,b})"
echo "syscalls (HTTPS): $(https sc as "$A" -- "$TRUE") -> $(https sc bs "$B" -- "$TRUE")"
echo "instructions to execve, HTTP:  $(http cg a-http "$PA" -- "$TRUE") -> $(http cg b-http "$PB" -- "$TRUE")"
echo "instructions to execve, HTTPS: $(https cg a-https "$PA" -- "$TRUE") -> $(https cg b-https "$PB" -- "$TRUE")"
echo "peak RSS, HTTPS: $(https rss "$A" -- "$TRUE") -> $(https rss "$B" -- "$TRUE") KiB"
for r in $(seq "$ROUNDS"); do
    http hyperfine -N -w 2 -r "$RUNS" --style none --export-json "$OUT/h.$r.json" \
        -n a-http "$A -- $TRUE" -n b-http "$B -- $TRUE" -n tini "$TINI -s -- $TRUE" >/dev/null 2>>"$OUT/hf.log"
    https hyperfine -N -w 2 -r "$RUNS" --style none --export-json "$OUT/s.$r.json" \
        -n a-https "$A -- $TRUE" -n b-https "$B -- $TRUE" >/dev/null 2>>"$OUT/hf.log"
    jq -s '{results: [.[].results[]]}' "$OUT/h.$r.json" "$OUT/s.$r.json" >"$OUT/round.$r.json"
done
F=("$OUT"/round.*.json)
echo "wall time ($ROUNDS rounds x $RUNS): HTTP after/before $(hf_ratio b-http a-http "${F[@]}"), HTTPS after/before $(hf_ratio b-https a-https "${F[@]}")"
echo "  HTTP vs tini -s: $(hf_ratio a-http tini "${F[@]}") -> $(hf_ratio b-http tini "${F[@]}");" \
    "medians: before $(printf %.3f "$(hf_median a-http "${F[@]}")") ms, after $(printf %.3f "$(hf_median b-http "${F[@]}")") ms, tini $(printf %.3f "$(hf_median tini "${F[@]}")") ms"
echo "  system time (HTTP, mean, median of rounds): $(hf_field a-http system "${F[@]}") -> $(hf_field b-http system "${F[@]}") ms; tini $(hf_field tini system "${F[@]}") ms"
