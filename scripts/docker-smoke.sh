#!/usr/bin/env bash
# Docker smoke test: build the sp-entrypoint image from the repo's Dockerfile and the locally
# built static binary, layer a static busybox "app" on it, and run it against the project's
# fake cloud (HTTPS, its CA mounted into the containers) on the host's loopback.
#
#   bash scripts/docker-smoke.sh                       # build the image, run every case
#   SP_IMAGE=my/sp-entrypoint:1 bash scripts/docker-smoke.sh   # test an image you built
#   DOCKER=/usr/bin/docker bash scripts/docker-smoke.sh         # pick the docker CLI
#
# Cases: a good token (the app runs with the proven env, as 65532, supervised by the entrypoint
# as PID 1); a refused (401) and an expired token (exit 77, the app never runs); an unknown CA
# (exit 69); missing credentials (exit 78); `_FILE` secrets (Kubernetes style); `docker stop`
# under 2 s with exit 143, as PID 1 and under `--init`; `--read-only`, with credentials.json
# on a tmpfs; fly.toml's release_command; `check --json` in the bare image; the example app
# Dockerfile. Prints the image size and `N passed, 0 failed`; exits non-zero on any failure.
# Without a reachable Docker engine it prints one `skipped: ...` line and exits 0.
#
# Containers use --network host and talk only to 127.0.0.1. Everything it creates (images,
# containers, the fake, temp files) is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

T=${SMOKE_TIMEOUT:-60}           # seconds, for every docker command
MUSL_BIN=target/x86_64-unknown-linux-musl/release/sp-entrypoint
EMAIL=smoke@example.com
ID="$$-$RANDOM"
UID_GID=65532:65532

say() { printf '%s\n' "$*"; }
die() { printf 'docker-smoke: error: %s\n' "$*" >&2; exit 1; }

# ---- a Docker engine? -------------------------------------------------------------------------
first_docker=${DOCKER:-$(command -v docker || true)}
if [ -z "$first_docker" ]; then
    say "skipped: no Docker engine reachable (no docker CLI on PATH)"
    exit 0
fi
if ! info_err=$(timeout 20 "$first_docker" info 2>&1 >/dev/null); then
    say "skipped: no Docker engine reachable ($first_docker info: $(printf '%s' "$info_err" | grep -v '^$' | tail -n1))"
    exit 0
fi

# ---- state and cleanup ------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sp-docker-smoke.XXXXXX")
: >"$tmp/all" # every container's output, checked for the token at the end
images=()
containers=()
fake_pid=
DOCKER_BIN=$first_docker
cleanup() {
    local rc=$?
    set +e
    for c in "${containers[@]}"; do timeout "$T" "$DOCKER_BIN" rm -f "$c" >/dev/null 2>&1; done
    for i in "${images[@]}"; do timeout "$T" "$DOCKER_BIN" rmi -f "$i" >/dev/null 2>&1; done
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null
        wait "$fake_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dk() { timeout "$T" "$DOCKER_BIN" "$@"; }

# ---- a BuildKit-capable CLI: only the stages needed get built, so nothing is pulled ----------
probe_ctx=$tmp/probe
mkdir -p "$probe_ctx"
printf 'x' >"$probe_ctx/probe"
cat >"$probe_ctx/Dockerfile" <<'EOF'
FROM scratch AS unused
RUN ["/no-such-command"]
FROM scratch
COPY probe /probe
EOF
probe() { # BUILD-COMMAND...: does it build the probe without the unused stage?
    local tag=sp-docker-smoke:probe-$ID
    if timeout "$T" "$@" -q -t "$tag" "$probe_ctx" >/dev/null 2>&1; then
        timeout "$T" "$DOCKER_BIN" rmi -f "$tag" >/dev/null 2>&1 || true
        return 0
    fi
    return 1
}
candidates=()
if [ -n "${DOCKER:-}" ]; then
    candidates=("$DOCKER")
else
    seen=" "
    while IFS= read -r d; do
        real=$(readlink -f "$d")
        case $seen in *" $real "*) continue ;; esac
        seen="$seen$real "
        candidates+=("$d")
    done < <(type -ap docker)
fi
build=()
for d in "${candidates[@]}"; do
    DOCKER_BIN=$d
    if timeout 20 "$d" buildx version >/dev/null 2>&1 && probe "$d" buildx build --load; then
        build=("$d" buildx build --load)
        break
    fi
    if probe env DOCKER_BUILDKIT=1 "$d" build; then
        build=(env DOCKER_BUILDKIT=1 "$d" build)
        break
    fi
done
[ ${#build[@]} -gt 0 ] || die "no BuildKit-capable docker CLI (tried: ${candidates[*]}; 'docker buildx', DOCKER_BUILDKIT=1); install buildx or set DOCKER=/path/to/docker"
say "docker: $DOCKER_BIN (engine $(dk version -f '{{.Server.Version}}' 2>/dev/null || echo '?')); build: ${build[*]}"

# ---- the image ---------------------------------------------------------------------------------
if [ -n "${SP_IMAGE:-}" ]; then
    final=$SP_IMAGE
    say "image: $final (given)"
else
    if [ ! -x "$MUSL_BIN" ]; then
        say "building the static binary ($MUSL_BIN)"
        cargo build --locked --release --target x86_64-unknown-linux-musl
    fi
    final=sp-docker-smoke:final-$ID
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
    revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    t0=$(date +%s%N)
    timeout 300 "${build[@]}" -q -f Dockerfile --build-arg BINARY_SOURCE=prebuilt \
        --build-arg VERSION="$version" --build-arg REVISION="$revision" -t "$final" . >/dev/null
    images+=("$final")
    say "image: built from Dockerfile (BINARY_SOURCE=prebuilt) in $((($(date +%s%N) - t0) / 1000000)) ms"
fi

# The test app: a static busybox (Debian's busybox-static) on top of the image.
busybox=${BUSYBOX:-/bin/busybox}
static_busybox() {
    if command -v file >/dev/null; then
        file -L "$busybox" 2>/dev/null | grep -q 'statically linked'
    else # Debian's busybox-static is the one that installs a static /bin/busybox
        [ -x "$busybox" ] && dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'
    fi
}
if ! static_busybox; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing busybox-static"
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq busybox-static >/dev/null 2>&1 ||
            { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq busybox-static >/dev/null; }
    fi
    static_busybox || die "$busybox is not a static busybox; install busybox-static or set BUSYBOX=PATH"
fi
app_ctx=$tmp/app
mkdir -p "$app_ctx/bin"
cp "$busybox" "$app_ctx/bin/busybox"
for a in sh sleep id cat stat tr head sha256sum cut; do ln -s busybox "$app_ctx/bin/$a"; done
printf 'FROM %s\nCOPY bin/ /bin/\n' "$final" >"$app_ctx/Dockerfile"
app=sp-docker-smoke:app-$ID
timeout 300 "${build[@]}" -q -t "$app" "$app_ctx" >/dev/null
images+=("$app")

# The example app Dockerfile, with scratch as the app's base and busybox as the app.
ex_ctx=$tmp/example
mkdir -p "$ex_ctx/app"
cp examples/Dockerfile "$ex_ctx/Dockerfile"
cp "$busybox" "$ex_ctx/app/busybox"
ln -s busybox "$ex_ctx/app/sh"
example=sp-docker-smoke:example-$ID
timeout 300 "${build[@]}" -q --build-arg SP_ENTRYPOINT_IMAGE="$final" --build-arg APP_BASE=scratch \
    -t "$example" "$ex_ctx" >/dev/null
images+=("$example")

# ---- the fake cloud, HTTPS on loopback ----------------------------------------------------------
fake=${FAKE_CLOUD:-}
if [ -z "$fake" ]; then
    for c in target/release/fake-cloud target/debug/fake-cloud; do
        if [ -x "$c" ]; then fake=$c; break; fi
    done
fi
if [ -z "$fake" ]; then
    say "building fake-cloud"
    cargo build --locked -p fake-cloud
    fake=target/debug/fake-cloud
fi
"$fake" serve --tls --bind 127.0.0.1:0 --ca-out "$tmp/ca.pem" --url-file "$tmp/url" --quiet \
    >"$tmp/fake.out" 2>"$tmp/fake.err" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$tmp/url" ] && break; sleep 0.1; done
[ -s "$tmp/url" ] || die "fake-cloud did not start: $(cat "$tmp/fake.err")"
url=$(cat "$tmp/url")
chmod 0644 "$tmp/ca.pem" # read by uid 65532 in the containers
good=$("$fake" mint --email "$EMAIL" --ttl 86400)
other=$("$fake" mint --email other@example.com --ttl 86400)
bad=${good%.*}.${other##*.} # a well-formed JWT whose signature does not match: 401
expired=$("$fake" mint --email "$EMAIL" --ttl -60)
good_sha=$(printf '%s' "$good" | sha256sum | cut -c1-16)
printf '%s\n' "$good" >"$tmp/token" # a secret file, with the usual trailing newline
chmod 0644 "$tmp/token"
say "fake cloud: $url (TLS, CA mounted at /etc/sp/ca.pem)"
command -v curl >/dev/null || die "curl is needed to read the fake's /_fake/stats"
stat_of() { curl -sS --max-time 5 --cacert "$tmp/ca.pem" "$url/_fake/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# ---- cases ---------------------------------------------------------------------------------------
pass=0
fail=0
ok() { pass=$((pass + 1)); printf 'ok    %-58s %s\n' "$1" "${2:-}"; }
nok() {
    fail=$((fail + 1))
    printf 'FAIL  %-58s %s\n' "$1" "${2:-}"
    if [ -s "$tmp/out" ]; then tail -n 15 "$tmp/out" | sed 's/^/      | /'; fi
}
net=(--network host -v "$tmp/ca.pem:/etc/sp/ca.pem:ro" -e SSL_CERT_FILE=/etc/sp/ca.pem
    -e SYSTEMPROMPT_API_URL="$url" -e SYSTEMPROMPT_USER_EMAIL="$EMAIL")
# The app: prints what it got. The token itself only as a hash prefix. (Single quotes: it
# expands in the container's shell.)
# shellcheck disable=SC2016
APP='echo "app: uid=$(id -u):$(id -g) pid=$$ ppid=$PPID init=$(head -c 32 /proc/1/cmdline | tr "\0" " ")email=$SYSTEMPROMPT_USER_EMAIL url=$SYSTEMPROMPT_API_URL token=$(printf %s "$SYSTEMPROMPT_API_TOKEN" | sha256sum | cut -c1-16)"'
rc=0
# run TOKEN DOCKER-RUN-ARGS...: `docker run --rm` with the token passed by name (not in argv).
run() {
    local tok=$1
    shift
    rc=0
    SYSTEMPROMPT_API_TOKEN=$tok timeout "$T" "$DOCKER_BIN" run --rm "${net[@]}" -e SYSTEMPROMPT_API_TOKEN "$@" \
        >"$tmp/out" 2>&1 || rc=$?
    cat "$tmp/out" >>"$tmp/all"
}
has() { grep -qF -- "$1" "$tmp/out"; }
app_ran_ok() { has "app: uid=$UID_GID " && has "email=$EMAIL url=$url token=$good_sha"; }

name="https, good token: the app runs with the proven env"
run "$good" "$app" sh -c "$APP"
if [ $rc = 0 ] && app_ran_ok && has "credentials validated"; then ok "$name" "$(grep -o 'whoami_ms=[0-9.]*' "$tmp/out")"; else nok "$name" "rc=$rc"; fi

name="as PID 1 the entrypoint supervises; the app is its child"
if has "init=/sp-entrypoint" && has "ppid=1 " && ! has " pid=1 "; then ok "$name"; else nok "$name"; fi

name="non-root: image USER $UID_GID, the app runs as it"
user=$(dk image inspect -f '{{.Config.User}}' "$final")
if [ "$user" = "$UID_GID" ] && has "app: uid=$UID_GID "; then ok "$name"; else nok "$name" "USER=$user"; fi

name="bad token (401): exit 77, the app never runs"
before=$(stat_of unauthorized)
run "$bad" "$app" sh -c "$APP"
after=$(stat_of unauthorized)
if [ $rc = 77 ] && ! has "app:" && [ "$after" = $((before + 1)) ]; then ok "$name"; else nok "$name" "rc=$rc 401s=$before->$after"; fi

name="expired token: exit 77, nothing sent, the app never runs"
before=$(stat_of requests)
run "$expired" "$app" sh -c "$APP"
after=$(stat_of requests)
if [ $rc = 77 ] && ! has "app:" && [ "$after" = "$before" ]; then ok "$name"; else nok "$name" "rc=$rc requests=$before->$after"; fi

name="unknown CA (no SSL_CERT_FILE): exit 69, the app never runs"
run "$good" -e SSL_CERT_FILE= -e SYSTEMPROMPT_WHOAMI_TIMEOUT=2 "$app" sh -c "$APP"
if [ $rc = 69 ] && ! has "app:"; then ok "$name"; else nok "$name" "rc=$rc"; fi

name="no credentials: exit 78, the app never runs"
rc=0
timeout "$T" "$DOCKER_BIN" run --rm --network host "$app" sh -c "$APP" >"$tmp/out" 2>&1 || rc=$?
if [ $rc = 78 ] && ! has "app:" && has "SYSTEMPROMPT_API_TOKEN"; then ok "$name"; else nok "$name" "rc=$rc"; fi

name="_FILE secret mounted read-only (Kubernetes style)"
run "" -v "$tmp/token:/var/run/secrets/systemprompt/token:ro" \
    -e SYSTEMPROMPT_API_TOKEN_FILE=/var/run/secrets/systemprompt/token "$app" sh -c "$APP"
if [ $rc = 0 ] && app_ran_ok; then ok "$name"; else nok "$name" "rc=$rc"; fi

name="--read-only root filesystem"
run "$good" --read-only "$app" sh -c "$APP"
if [ $rc = 0 ] && app_ran_ok; then ok "$name"; else nok "$name" "rc=$rc"; fi

name="--read-only, credentials.json written to a tmpfs (0600)"
# shellcheck disable=SC2016
run "$good" --read-only --tmpfs "/run/sp:rw,size=64k,uid=65532,gid=65532,mode=0700" \
    -e SYSTEMPROMPT_WRITE_CREDENTIALS=/run/sp/credentials.json \
    "$app" sh -c "$APP"' && echo "creds: $(stat -c %a /run/sp/credentials.json)"'
if [ $rc = 0 ] && app_ran_ok && has "creds: 600"; then ok "$name"; else nok "$name" "rc=$rc"; fi

name="docker run --init: the entrypoint execs the app under tini"
run "$good" --init "$app" sh -c "$APP"
if [ $rc = 0 ] && app_ran_ok && ! has "init=/sp-entrypoint"; then ok "$name"; else nok "$name" "rc=$rc"; fi

# stop_case NAME [DOCKER-RUN-ARGS...]: start `sleep`, wait until it runs, time `docker stop`.
stop_case() {
    local name=$1 c=sp-docker-smoke-$ID-$RANDOM started=no t0 ms code
    shift
    containers+=("$c")
    SYSTEMPROMPT_API_TOKEN=$good dk run -d --name "$c" "${net[@]}" -e SYSTEMPROMPT_API_TOKEN "$@" \
        "$app" sh -c 'echo app: started; exec sleep 300' >/dev/null
    for _ in $(seq 100); do
        if dk logs "$c" 2>&1 | grep -q "app: started"; then started=yes; break; fi
        sleep 0.1
    done
    dk logs "$c" >"$tmp/out" 2>&1 || true
    cat "$tmp/out" >>"$tmp/all"
    if [ $started = no ]; then nok "$name" "the app did not start"; return; fi
    t0=$(date +%s%N)
    dk stop -t 10 "$c" >/dev/null
    ms=$((($(date +%s%N) - t0) / 1000000))
    code=$(dk inspect -f '{{.State.ExitCode}}' "$c")
    if [ "$ms" -lt 2000 ] && [ "$code" = 143 ]; then ok "$name" "${ms} ms, exit $code"; else nok "$name" "${ms} ms, exit $code"; fi
    dk rm -f "$c" >/dev/null 2>&1 || true
}
stop_case "docker stop, entrypoint as PID 1: < 2 s, exit 143"
stop_case "docker stop under --init: < 2 s, exit 143" --init

release=$(sed -n 's/^[[:space:]]*release_command[[:space:]]*=[[:space:]]*"\(.*\)"[[:space:]]*$/\1/p' fly.toml)
read -r -a release_argv <<<"$release"
name="fly.toml release_command ($release) behind the ENTRYPOINT"
run "$good" "$app" "${release_argv[@]}"
good_rc=$rc
run "$bad" "$app" "${release_argv[@]}"
if [ -n "$release" ] && [ $good_rc = 0 ] && [ $rc = 77 ]; then ok "$name" "good: 0, bad token: 77"; else nok "$name" "good: $good_rc, bad token: $rc"; fi

name="check --json in the bare image (--entrypoint /sp-entrypoint)"
run "$good" --entrypoint /sp-entrypoint "$final" check --json
if [ $rc = 0 ] && has '"validated":true' && ! has "$good"; then ok "$name"; else nok "$name" "rc=$rc"; fi

name="examples/Dockerfile: ENTRYPOINT and CMD, the app runs"
meta=$(dk image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}}' "$example")
run "$good" "$example" /app/sh -c "$APP"
if [ "$meta" = '["/sp-entrypoint","--"] ["/app/server","--port","8080"] 65532:65532' ] && [ $rc = 0 ] && app_ran_ok; then
    ok "$name"
else
    nok "$name" "rc=$rc config: $meta"
fi

name="no token in any output (entrypoint, app, fake cloud)"
rm -f "$tmp/out"
if ! grep -qF -e "$good" -e "$bad" -e "$expired" "$tmp/all" "$tmp/fake.out" "$tmp/fake.err"; then ok "$name"; else nok "$name"; fi

size=$(dk image inspect -f '{{.Size}}' "$final")
say "image size: $size bytes ($((size / 1024)) KiB): $final"
say "$pass passed, $fail failed"
[ "$fail" = 0 ]
