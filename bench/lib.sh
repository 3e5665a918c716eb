# Shared pieces of the benchmark scripts (sourced, not run): the background servers they start
# (killed on exit), the fake cloud, nginx serving the canned whoami body on loopback, the
# system-call count between two execve, and the interleaved-round medians and ratios of
# hyperfine's JSON.
#
# Every server here listens on 127.0.0.1 only, under a directory of the caller's ($OUT).

# Background processes the caller started (`pids+=(PID)`), killed when it exits.
pids=()
kill_started() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    true
}
trap kill_started EXIT

# start_fake URL_FILE LOG COMMAND...: the fake cloud in the background, COMMAND being its `serve`
# command line (e.g. `nice -n -10 "$FAKE" serve --tls`), given `--url-file URL_FILE -q` and its
# output going to LOG; added to pids. Waits (up to 5 s) until URL_FILE holds its URL.
start_fake() {
    local url_file=$1 log=$2
    shift 2
    "$@" --url-file "$url_file" -q >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$url_file" ] && return 0; sleep 0.05; done
    echo "the fake cloud ($url_file) did not start" >&2
    exit 1
}

# make_cert DIR: an ECDSA P-256 CA and a P-256 leaf for localhost, $BENCH_HOST (default
# whoami.bench.test, a reserved name), 127.0.0.1 and ::1, signed by
# it, with openssl: DIR/ca.pem (for SSL_CERT_FILE), DIR/leaf.pem, DIR/leaf.key.
make_cert() {
    local d=$1
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$d/ca.key" -sha256 -days 30 -subj "/CN=sp-entrypoint bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$d/ca.pem" 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/leaf.key" 2>/dev/null
    openssl req -new -key "$d/leaf.key" -subj "/CN=localhost" -out "$d/leaf.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,DNS:${BENCH_HOST:-whoami.bench.test},IP:127.0.0.1,IP:::1" >"$d/leaf.ext"
    openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -sha256 \
        -days 30 -extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
}

# free_port: an unused TCP port on 127.0.0.1 (bound and released; nginx binds it right after).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nginx DIR BODY_FILE: Debian's nginx in the foreground at nice -10, one process (no master,
# so no privilege drop and one pid), serving BODY_FILE as `application/json` at /api/v1/auth/me over
# HTTP and over HTTPS (TLS 1.2 and 1.3, the ECDSA P-256 certificate of make_cert DIR) on
# 127.0.0.1. Its prefix, configuration, pid file, logs and temp paths are all under DIR.
# Sets NGINX_PID, NGINX_HTTP_URL, NGINX_HTTPS_URL.
start_nginx() {
    local d=$1 body=$2 http_port https_port temp=""
    http_port=$(free_port)
    https_port=$(free_port)
    mkdir -p "$d/logs" "$d/tmp"
    # Temp paths only for the modules this nginx has (an unknown directive is an error).
    for m in client_body proxy fastcgi uwsgi scgi; do
        if [ $m = client_body ] || ! nginx -V 2>&1 | grep -q -- "--without-http_${m}_module"; then
            temp="$temp    ${m}_temp_path $d/tmp/$m;"$'\n'
        fi
    done
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
$temp    server {
        listen 127.0.0.1:$http_port;
        listen 127.0.0.1:$https_port ssl;
        server_name localhost;
        ssl_certificate $d/leaf.pem;
        ssl_certificate_key $d/leaf.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /api/v1/auth/me {
            default_type application/json;
            alias $body;
        }
        location / { return 404; }
    }
}
EOF
    # At nice -10: on a shared machine the server's wake-up must not wait behind other jobs (on a
    # real network it runs on another machine); the clients measured keep the default priority.
    nice -n -10 nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" >"$d/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    NGINX_HTTP_URL=http://127.0.0.1:$http_port
    NGINX_HTTPS_URL=https://127.0.0.1:$https_port
    local _
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "$NGINX_HTTP_URL/api/v1/auth/me" 2>/dev/null && return 0
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "nginx did not start:" >&2
    cat "$d/logs/error.log" "$d/logs/stdout.log" >&2
    return 1
}

# count_syscalls TRACE APP: from `strace -f -o TRACE ENTRYPOINT ... APP`, the system calls made
# after the entrypoint's own execve up to (not including) the execve of APP, by every process
# and thread of the entrypoint. Prints "total N" then "NAME COUNT" lines, most frequent first.
count_syscalls() {
    awk -v app="$2" '
        { line = $0; sub(/^[0-9]+ +/, "", line) }
        line ~ /^<\.\.\. / { next }                     # the rest of an interrupted call
        !match(line, /^[a-z_0-9]+\(/) { next }           # signals, exits
        { name = substr(line, 1, RLENGTH - 1) }
        !started { if (name == "execve") started = 1; next }
        name == "execve" && index(line, "execve(\"" app "\"") == 1 { done = 1; exit }
        { n[name]++; total++ }
        END {
            if (!done) { print "count_syscalls: no execve of " app " in the trace" > "/dev/stderr"; exit 1 }
            print "total", total; fflush()
            for (k in n) print k, n[k] | "sort -k2,2nr -k1,1"
        }' "$1"
}

# median over all samples of command $1 in the JSON files $2...: milliseconds.
hf_median() {
    local k=$1
    shift
    jq -rs --arg k "$k" '[.[].results[] | select(.command == $k) | .times[]] | sort
        | if length == 0 then "null" elif length % 2 == 1 then .[length/2|floor] * 1000
          else (.[length/2-1] + .[length/2]) / 2 * 1000 end' "$@"
}

# hf_ratio A B FILES...: the median over rounds of (A's median / B's median) in that round;
# each FILE is one round (hyperfine JSON, results merged). Pairing by round keeps the ratio
# meaningful when the machine's speed drifts.
hf_ratio() {
    local a=$1 b=$2
    shift 2
    jq -rs --arg a "$a" --arg b "$b" '
        def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
        def m($k): [.[] | [.results[] | select(.command == $k) | .median][0]];
        [m($a), m($b)] | transpose | map(select(.[0] != null and .[1] != null) | .[0] / .[1])
        | median | if . == null then "null" else . * 1000 | round / 1000 end' "$@"
}

# hf_mean_field CMD FIELD FILES...: median over rounds of hyperfine's mean FIELD (user|system), ms.
hf_field() {
    local k=$1 f=$2
    shift 2
    jq -rs --arg k "$k" --arg f "$f" '
        def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
        [.[].results[] | select(.command == $k) | .[$f]] | median | if . == null then "null" else . * 1000 * 1000 | round / 1000 end' "$@"
}
