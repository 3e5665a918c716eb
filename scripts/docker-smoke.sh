#!/usr/bin/env bash
# Docker smoke test, per platform (linux/amd64, then linux/arm64 under emulation): build the
# sp-entrypoint image from the release binary in dist/ with Dockerfile.dist (scripts/release.sh
# --images-only; with the legacy builder and with BuildKit), check it holds the binary for its
# platform, layer a static busybox "app" on it, and run it against the project's fake cloud
# (HTTPS, its CA mounted into the containers) on the host's loopback.
#
#   bash scripts/docker-smoke.sh                       # both platforms, every case
#   SP_PLATFORMS=linux/arm64 bash scripts/docker-smoke.sh       # one platform
#   SP_IMAGE=my/sp-entrypoint:1 SP_PLATFORMS=linux/amd64 bash scripts/docker-smoke.sh  # an image you built
#   DOCKER=/usr/bin/docker bash scripts/docker-smoke.sh         # pick the docker CLI
#
# Cases: the image (its architecture, an ELF binary for it, identical to dist/'s, the same from
# both builders, its labels from the build, --version naming the target); a good token (the app
# runs with the proven env, as 65532, supervised by the entrypoint as PID 1); a refused (401) and
# an expired token (exit 77, the app never runs); an unknown CA (exit 69); missing credentials
# (exit 78); `_FILE` secrets (Kubernetes style); `docker stop` under 2 s with exit 143, as PID 1
# and under `--init`; `--read-only`, with credentials.json on a tmpfs; fly.toml's
# release_command; `check --json` in the bare image; the README's CI `check` recipe, run as
# written (good token: 0; refused: 77; an unreachable API with a 2 s budget: 69 in seconds, so
# the URL, the CA and the timeout all reached the container); examples/Dockerfile built from the
# repository root as fly.toml builds it, its default CMD serving /healthz. Prints the image size
# and `N passed, 0 failed` per platform; exits non-zero on any failure.
#
# Without a reachable Docker engine it prints one `skipped: ...` line and exits 0; so it does for
# linux/arm64 on an x86-64 host without an aarch64 binfmt_misc handler (qemu-user-static, and
# `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`; .ci/run sets both up).
# The test app is the host's static busybox, also in the arm64 image (the kernel runs it
# natively; only the entrypoint is emulated).
#
# Containers use --network host and talk only to 127.0.0.1. Everything it creates (images,
# containers, the fake, temp files) is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

T=${SMOKE_TIMEOUT:-60}           # seconds, for every docker command
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

# ---- one run per platform ---------------------------------------------------------------------
if [ -z "${SP_PLATFORM:-}" ]; then
    status=0
    for p in ${SP_PLATFORMS:-linux/amd64 linux/arm64}; do
        say "=== docker smoke: $p"
        SP_PLATFORM=$p bash "$0" || status=1
    done
    exit $status
fi
PLATFORM=$SP_PLATFORM
case $PLATFORM in
    linux/amd64) ARCH=amd64 TRIPLE=x86_64-unknown-linux-musl ELF_MACHINE=3e00 FILE_ARCH=x86-64 ;;
    linux/arm64) ARCH=arm64 TRIPLE=aarch64-unknown-linux-musl ELF_MACHINE=b700 FILE_ARCH="ARM aarch64" ;;
    *) die "unsupported platform $PLATFORM (linux/amd64, linux/arm64)" ;;
esac
case $(uname -m) in
    x86_64) HOST_ARCH=amd64 ;;
    aarch64) HOST_ARCH=arm64 ;;
    *) HOST_ARCH=other ;;
esac
if [ "$ARCH" != "$HOST_ARCH" ]; then
    handler=/proc/sys/fs/binfmt_misc/qemu-${TRIPLE%%-*}
    if ! grep -qx enabled "$handler" 2>/dev/null; then
        say "skipped: $PLATFORM: no enabled binfmt_misc handler ($handler) to run ${TRIPLE%%-*} binaries; install qemu-user-static and mount binfmt_misc"
        exit 0
    fi
fi
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
DIST_BIN=dist/linux-$ARCH/sp-entrypoint

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

# ---- cases: helpers ----------------------------------------------------------------------------
pass=0
fail=0
ok() { pass=$((pass + 1)); printf 'ok    %-58s %s\n' "$1" "${2:-}"; }
nok() {
    fail=$((fail + 1))
    printf 'FAIL  %-58s %s\n' "$1" "${2:-}"
    if [ -s "$tmp/out" ]; then tail -n 15 "$tmp/out" | sed 's/^/      | /'; fi
}
has() { grep -qF -- "$1" "$tmp/out"; }

# ---- the image ---------------------------------------------------------------------------------
elf_machine() { od -An -tx1 -j18 -N2 "$1" | tr -d ' \n'; }
# extract IMAGE DEST: copy /sp-entrypoint out of IMAGE.
extract() {
    local c
    c=$(dk create --platform "$PLATFORM" "$1")
    containers+=("$c")
    dk cp "$c:/sp-entrypoint" "$2"
    dk rm -f "$c" >/dev/null
}
if [ -n "${SP_IMAGE:-}" ]; then
    final=$SP_IMAGE
    say "image: $final (given)"
else
    if ! (cd dist 2>/dev/null && sha256sum -c --quiet SHA256SUMS 2>/dev/null) || [ ! -x "$DIST_BIN" ]; then
        say "building the release binaries (scripts/release.sh)"
        bash scripts/release.sh >"$tmp/release.log" 2>&1 || { tail -n 20 "$tmp/release.log"; die "scripts/release.sh failed"; }
    fi
    # The legacy builder (what a docker CLI without buildx runs) through release.sh, as a user
    # would; then BuildKit, for comparison.
    t0=$(date +%s%N)
    IMAGE_NAME=sp-docker-smoke-$ID TARGETS=$TRIPLE DOCKER=$DOCKER_BIN DOCKER_BUILDKIT=0 \
        bash scripts/release.sh --images-only >"$tmp/release.log" 2>&1 ||
        { cat "$tmp/release.log"; die "release.sh --images-only (legacy builder) failed"; }
    final=sp-docker-smoke-$ID:$VERSION-$ARCH
    images+=("$final")
    if [ "$ARCH" = "$HOST_ARCH" ]; then images+=("sp-docker-smoke-$ID:$VERSION" "sp-docker-smoke-$ID:latest"); fi
    say "image: $final from Dockerfile.dist (legacy builder, via release.sh --images-only) in $((($(date +%s%N) - t0) / 1000000)) ms"
    bk=sp-docker-smoke:bk-$ID
    timeout 300 "${build[@]}" -q -f Dockerfile.dist --platform "$PLATFORM" -t "$bk" "dist/linux-$ARCH" >/dev/null
    images+=("$bk")

    name="Dockerfile.dist: legacy builder and BuildKit give the $ARCH image with dist/'s binary"
    extract "$final" "$tmp/legacy.bin"
    extract "$bk" "$tmp/bk.bin"
    archs="$(dk image inspect -f '{{.Os}}/{{.Architecture}}' "$final") $(dk image inspect -f '{{.Os}}/{{.Architecture}}' "$bk")"
    if [ "$archs" = "$PLATFORM $PLATFORM" ] && cmp -s "$tmp/legacy.bin" "$DIST_BIN" && cmp -s "$tmp/bk.bin" "$DIST_BIN"; then
        ok "$name"
    else
        nok "$name" "platforms: $archs"
    fi
fi

name="the image holds a static $FILE_ARCH ELF binary"
extract "$final" "$tmp/image.bin"
desc=$(file -b "$tmp/image.bin" 2>/dev/null || echo "?")
machine=$(elf_machine "$tmp/image.bin")
if [ "$machine" = "$ELF_MACHINE" ] && case $desc in *"$FILE_ARCH"*"statically linked"*) true ;; *) false ;; esac; then
    ok "$name" "e_machine $machine"
else
    nok "$name" "e_machine $machine; file: $desc"
fi

name="--version in the image names the version, revision and $TRIPLE"
rc=0
dk run --rm --platform "$PLATFORM" --entrypoint /sp-entrypoint "$final" --version >"$tmp/out" 2>&1 || rc=$?
image_revision=$(sed -n 's/.*(rev \([^,]*\),.*/\1/p' "$tmp/out")
if [ $rc = 0 ] && has "sp-entrypoint $VERSION (rev " && has ", $TRIPLE)" && [ -n "$image_revision" ]; then
    ok "$name" "$(cat "$tmp/out")"
else
    nok "$name" "rc=$rc"
fi

if [ -z "${SP_IMAGE:-}" ]; then
    name="labels from the build: version, revision, created, source"
    label() { dk image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$final"; }
    created_want=$(date -u -d "@$(git log -1 --format=%ct "$image_revision" 2>/dev/null || echo 0)" +%Y-%m-%dT%H:%M:%SZ)
    if [ "$(label version)" = "$VERSION" ] && [ "$(label revision)" = "$image_revision" ] &&
        [ "$(label created)" = "$created_want" ] &&
        dk image inspect -f '{{json .Config.Labels}}' "$final" | grep -q '"org.opencontainers.image.source"'; then
        ok "$name" "$(label version) $(label revision) $(label created)"
    else
        nok "$name" "version=$(label version) revision=$(label revision) (binary: $image_revision) created=$(label created) (commit: $created_want)"
    fi
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
timeout 300 "${build[@]}" -q --platform "$PLATFORM" -t "$app" "$app_ctx" >/dev/null
images+=("$app")

# examples/Dockerfile as fly.toml builds it (the repository root as the context), with a local
# static busybox image as the app's base instead of Docker Hub's busybox.
base_ctx=$tmp/base
mkdir -p "$base_ctx/bin"
cp "$busybox" "$base_ctx/bin/busybox"
for a in sh sleep id cat stat tr head sha256sum cut; do ln -s busybox "$base_ctx/bin/$a"; done
printf 'FROM scratch\nCOPY bin/ /bin/\n' >"$base_ctx/Dockerfile"
app_base=sp-docker-smoke:busybox-$ID
timeout 300 "${build[@]}" -q --platform "$PLATFORM" -t "$app_base" "$base_ctx" >/dev/null
images+=("$app_base")
example=sp-docker-smoke:example-$ID
fly_dockerfile=$(sed -n 's/^[[:space:]]*dockerfile[[:space:]]*=[[:space:]]*"\(.*\)"[[:space:]]*$/\1/p' fly.toml)
[ "$fly_dockerfile" = examples/Dockerfile ] || die "fly.toml builds '$fly_dockerfile', not examples/Dockerfile"
timeout 300 "${build[@]}" -q --platform "$PLATFORM" -f "$fly_dockerfile" \
    --build-arg SP_ENTRYPOINT_IMAGE="$final" --build-arg APP_BASE="$app_base" -t "$example" . >/dev/null
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
net=(--network host -v "$tmp/ca.pem:/etc/sp/ca.pem:ro" -e SSL_CERT_FILE=/etc/sp/ca.pem
    -e SYSTEMPROMPT_API_URL="$url" -e SYSTEMPROMPT_USER_EMAIL="$EMAIL")
# The app: prints what it got. The token itself only as a hash prefix. (Single quotes: it
# expands in the container's shell.) `init=` is PID 1's command line, without the binfmt
# interpreter and file name qemu-user puts in front of it under emulation (flag P). The app may
# start before a supervising entrypoint has handed off to the lean supervisor (an exec that takes
# milliseconds under qemu, during which the command line reads as empty): while PID 1 is
# still the bootstrap, the app waits (up to 5 s) for `__supervise --child`. The patterns are
# written so that they do not match this script, which is in the bootstrap's command line.
# shellcheck disable=SC2016
APP='c=; i=0; while [ $i -lt 500 ]; do c=$(tr "\0" " " < /proc/1/cmdline 2>/dev/null | sed "s|^/[^ ]*qemu[^ ]* [^ ]* ||"); case $c in *" __supervis"[e]" --child "*) break ;; ""|/sp-entrypoin[t]" "*) ;; *) break ;; esac; i=$((i+1)); sleep 0.01; done; echo "app: uid=$(id -u):$(id -g) pid=$$ ppid=$PPID init=$(printf %s "$c" | cut -c1-60) email=$SYSTEMPROMPT_USER_EMAIL url=$SYSTEMPROMPT_API_URL token=$(printf %s "$SYSTEMPROMPT_API_TOKEN" | sha256sum | cut -c1-16)"'
rc=0
# run TOKEN DOCKER-RUN-ARGS...: `docker run --rm` with the token passed by name (not in argv).
run() {
    local tok=$1
    shift
    rc=0
    SYSTEMPROMPT_API_TOKEN=$tok timeout "$T" "$DOCKER_BIN" run --rm --platform "$PLATFORM" "${net[@]}" -e SYSTEMPROMPT_API_TOKEN "$@" \
        >"$tmp/out" 2>&1 || rc=$?
    cat "$tmp/out" >>"$tmp/all"
}
app_ran_ok() { has "app: uid=$UID_GID " && has "email=$EMAIL url=$url token=$good_sha"; }
# Is PID 1 the lean supervisor (the entrypoint after its hand-off)?
pid1_is_supervisor() { grep -qE 'init=/sp-entrypoint __supervise --child [0-9]+ ' "$tmp/out"; }

name="https, good token: the app runs with the proven env"
run "$good" "$app" sh -c "$APP"
if [ $rc = 0 ] && app_ran_ok && has "credentials validated"; then ok "$name" "$(grep -o 'whoami_ms=[0-9.]*' "$tmp/out")"; else nok "$name" "rc=$rc"; fi

name="as PID 1 the entrypoint supervises; the app is its child"
if pid1_is_supervisor && has "ppid=1 " && ! has " pid=1 "; then ok "$name"; else nok "$name"; fi

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
timeout "$T" "$DOCKER_BIN" run --rm --platform "$PLATFORM" --network host "$app" sh -c "$APP" >"$tmp/out" 2>&1 || rc=$?
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
if [ $rc = 0 ] && app_ran_ok && has "init=/sbin/docker-init " && has "ppid=1 "; then ok "$name"; else nok "$name" "rc=$rc"; fi

# stop_case NAME [DOCKER-RUN-ARGS...]: start `sleep`, wait until it runs, time `docker stop`.
stop_case() {
    local name=$1 c=sp-docker-smoke-$ID-$RANDOM started=no t0 ms code
    shift
    containers+=("$c")
    SYSTEMPROMPT_API_TOKEN=$good dk run -d --platform "$PLATFORM" --name "$c" "${net[@]}" -e SYSTEMPROMPT_API_TOKEN "$@" \
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

name="examples/Dockerfile: ENTRYPOINT and CMD, the app runs with the proven env"
meta=$(dk image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}}' "$example")
run "$good" "$example" sh -c "$APP"
if [ "$meta" = '["/sp-entrypoint","--"] ["/app/server"] 65532:65532' ] && [ $rc = 0 ] && app_ran_ok; then
    ok "$name"
else
    nok "$name" "rc=$rc config: $meta"
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

name="examples/Dockerfile, default CMD: /healthz served behind the entrypoint"
port=$(free_port)
c=sp-docker-smoke-$ID-example
containers+=("$c")
# PORT as [IP:]PORT (busybox httpd -p): loopback only.
SYSTEMPROMPT_API_TOKEN=$good dk run -d --platform "$PLATFORM" --name "$c" "${net[@]}" \
    -e SYSTEMPROMPT_API_TOKEN -e PORT="127.0.0.1:$port" "$example" >/dev/null
body=
for _ in $(seq 300); do
    body=$(curl -sf --max-time 2 "http://127.0.0.1:$port/healthz" || true)
    [ "$body" = ok ] && break
    [ "$(dk inspect -f '{{.State.Running}}' "$c")" = true ] || break
    sleep 0.1
done
dk logs "$c" >"$tmp/out" 2>&1 || true
cat "$tmp/out" >>"$tmp/all"
if [ "$body" = ok ] && has "credentials validated"; then ok "$name" "127.0.0.1:$port/healthz: $body"; else nok "$name" "healthz: '$body'"; fi
dk rm -f "$c" >/dev/null 2>&1 || true

# The README's CI recipe, as written (the block after `<!-- recipe: ci-check -->`), with IMAGE
# set; `docker` gets `--network host` (the fake cloud is on the host's loopback) and the
# platform added after its subcommand, nothing else.
recipe=$(awk '/<!-- recipe: ci-check -->/ { f = 1; next } f && /^```/ { if (g) exit; g = 1; next } g { print }' README.md)
ci_check() { # TOKEN URL TIMEOUT
    rc=0
    IMAGE=$final SYSTEMPROMPT_API_TOKEN=$1 SYSTEMPROMPT_USER_EMAIL=$EMAIL SYSTEMPROMPT_API_URL=$2 \
        SYSTEMPROMPT_WHOAMI_TIMEOUT=$3 SSL_CERT_FILE=$tmp/ca.pem PLATFORM=$PLATFORM DOCKER_BIN=$DOCKER_BIN \
        timeout "$T" bash -c 'docker() { local sub=$1; shift; "$DOCKER_BIN" "$sub" --network host --platform "$PLATFORM" "$@"; }
'"$recipe" >"$tmp/out" 2>&1 || rc=$?
    cat "$tmp/out" >>"$tmp/all"
}
name="README CI recipe (docker run ... check): passes URL, CA and timeout"
if [ -z "$recipe" ] || ! grep -q -- '--entrypoint /sp-entrypoint' <<<"$recipe"; then
    nok "$name" "no recipe block in README.md"
else
    before=$(stat_of requests)
    ci_check "$good" "$url" 30
    good_rc=$rc
    after=$(stat_of requests)
    good_out=$(cat "$tmp/out")
    ci_check "$bad" "$url" 30
    bad_rc=$rc
    closed=$(free_port)
    t0=$(date +%s%N)
    ci_check "$good" "http://127.0.0.1:$closed" 2
    down_rc=$rc
    down_ms=$((($(date +%s%N) - t0) / 1000000))
    if [ $good_rc = 0 ] && grep -q '^validated: *yes' <<<"$good_out" && [ "$after" -gt "$before" ] &&
        [ $bad_rc = 77 ] && [ $down_rc = 69 ] && [ $down_ms -lt 20000 ]; then
        ok "$name" "good: 0, refused: 77, API down with a 2 s budget: 69 in $down_ms ms"
    else
        nok "$name" "good: $good_rc (requests $before->$after), refused: $bad_rc, down: $down_rc in $down_ms ms"
    fi
fi

name="no token in any output (entrypoint, app, fake cloud)"
rm -f "$tmp/out"
if ! grep -qF -e "$good" -e "$bad" -e "$expired" "$tmp/all" "$tmp/fake.out" "$tmp/fake.err"; then ok "$name"; else nok "$name"; fi

size=$(dk image inspect -f '{{.Size}}' "$final")
say "image size ($PLATFORM): $size bytes ($((size / 1024)) KiB): $final"
say "$pass passed, $fail failed"
[ "$fail" = 0 ]
