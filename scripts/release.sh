#!/usr/bin/env bash
# The release: static musl binaries for x86_64 and aarch64 in dist/, named with the version and
# the target, an SBOM for each (CycloneDX JSON), and SHA256SUMS over all of them. Optionally
# the per-platform images, from Dockerfile.dist, labelled from the build.
#
#   bash scripts/release.sh                 # dist/: both binaries, their SBOMs, SHA256SUMS
#   bash scripts/release.sh --images        # ... and images sp-entrypoint:VERSION-amd64 / -arm64
#                                           # (Dockerfile.dist; any builder; no registry), the
#                                           # host's platform also as :VERSION and :latest
#   bash scripts/release.sh --images-only   # the images from the dist/ there is
#   IMAGE_NAME=NAME DOCKER=CLI ...          # another image name; another docker CLI
#   TARGETS=x86_64-unknown-linux-musl OUT=/tmp/d bash scripts/release.sh   # one target, elsewhere
#   (cd dist && sha256sum -c SHA256SUMS)    # verify
#
# Reproducible: the same commit gives byte-identical binaries from any clone directory (the
# clone's path, CARGO_HOME and the target dir are remapped out of the binary, the revision
# comes from git, nothing reads the clock; SOURCE_DATE_EPOCH, the commit's time unless set, is
# only the SBOM's timestamp and the image's `created` label). scripts/repro-check.sh checks it.
# It builds in target/dist/, apart from plain `cargo build`s (other flags).
#
# Needs: rustup targets x86_64- and aarch64-unknown-linux-musl, musl-tools (x86_64's C
# compiler), gcc-aarch64-linux-gnu (aarch64's C compiler and linker; see .cargo/config.toml),
# python3 (3.11+, for scripts/sbom.py), git. No registry; --images needs a Docker engine only.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGES=no
BUILD=yes
for a in "$@"; do
    case $a in
        --images) IMAGES=yes ;;
        --images-only) IMAGES=yes BUILD=no ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "release.sh: unknown argument: $a (try --help)" >&2; exit 64 ;;
    esac
done

TARGETS=${TARGETS:-x86_64-unknown-linux-musl aarch64-unknown-linux-musl}
OUT=${OUT:-dist}
NAME=sp-entrypoint
VERSION=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "sp-entrypoint"))')
REVISION=${SP_ENTRYPOINT_REVISION:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
export SP_ENTRYPOINT_REVISION=$REVISION
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

# Paths that would otherwise end up in the binary (panic locations of dependencies, build
# scripts' OUT_DIR): the clone, CARGO_HOME (registry sources) and the target dir. rustc uses
# the last prefix that matches, so the most specific comes last.
src=$(pwd -P)
cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
# Its own target dir (under the workspace's): the remapping flags differ from a plain
# `cargo build`'s, and sharing one dir would make each rebuild everything after the other.
target_dir=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/dist
remap=("--remap-path-prefix=$cargo_home=/cargo" "--remap-path-prefix=$src=/src")
case $target_dir in
    "$src"/*) ;;
    *) remap+=("--remap-path-prefix=$target_dir=/target") ;;
esac

if [ "$BUILD" = no ]; then
    (cd "$OUT" && sha256sum -c --quiet SHA256SUMS) || { echo "release: $OUT/ does not verify; build it first" >&2; exit 1; }
fi
[ "$BUILD" = yes ] && mkdir -p "$OUT"
# dist/ holds one release: the previous one's files go.
[ "$BUILD" = yes ] && rm -rf "$OUT"/"$NAME"-* "$OUT"/SHA256SUMS "$OUT"/linux-*
[ "$BUILD" = yes ] && echo "release: $NAME $VERSION (rev $REVISION, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH) -> $OUT/"
artifacts=()
for target in $TARGETS; do
    [ "$BUILD" = yes ] || break
    # Appended to the target's rustflags from .cargo/config.toml (a RUSTFLAGS variable would
    # replace them). CARGO_ENCODED_RUSTFLAGS/RUSTFLAGS from the caller would win over both.
    flags=$(printf '"%s",' "${remap[@]}")
    t0=$(date +%s)
    # Without SOURCE_DATE_EPOCH: the cc crate (ring's C) reruns when it changes, so a
    # per-commit value would rebuild ring on every commit; nothing in the build reads the date
    # (repro-check.sh would see it).
    env -u SOURCE_DATE_EPOCH CARGO_TARGET_DIR="$target_dir" \
        cargo build --locked --release --target "$target" -p "$NAME" \
        --config "target.$target.rustflags=[${flags%,}]"
    bin=$target_dir/$target/release/$NAME
    file=$NAME-$VERSION-$target
    cp "$bin" "$OUT/$file"
    chmod 0755 "$OUT/$file"
    python3 scripts/sbom.py --target "$target" --binary "$OUT/$file" --revision "$REVISION" \
        --out "$OUT/$file.cdx.json"
    artifacts+=("$file" "$file.cdx.json")
    # The image build context for this platform (Dockerfile.dist): the binary as `sp-entrypoint`.
    case $target in
        x86_64-*) arch=amd64 ;;
        aarch64-*) arch=arm64 ;;
        *) arch= ;;
    esac
    if [ -n "$arch" ]; then
        mkdir -p "$OUT/linux-$arch"
        ln -f "$OUT/$file" "$OUT/linux-$arch/$NAME" 2>/dev/null || cp "$OUT/$file" "$OUT/linux-$arch/$NAME"
    fi
    echo "release: $OUT/$file: $(stat -c %s "$OUT/$file") bytes, built in $(($(date +%s) - t0)) s"
done
if [ "$BUILD" = yes ]; then
    (cd "$OUT" && sha256sum "${artifacts[@]}" >SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
    echo "release: $OUT/SHA256SUMS verifies"
fi

[ "$IMAGES" = yes ] || exit 0

# ---- images: one per platform, from Dockerfile.dist (scratch only: no registry) ------------
DOCKER=${DOCKER:-docker}
IMAGE_NAME=${IMAGE_NAME:-$NAME}
case $(uname -m) in
    x86_64) host_arch=amd64 ;;
    aarch64 | arm64) host_arch=arm64 ;;
    *) host_arch= ;;
esac
source_url=${SP_SOURCE_URL:-$(git config --get remote.origin.url 2>/dev/null || true)}
source_url=$(printf '%s' "$source_url" | sed -E 's#^([a-z+]+://)[^/@]*@#\1#') # no credentials
for target in $TARGETS; do
    case $target in
        x86_64-*) arch=amd64 ;;
        aarch64-*) arch=arm64 ;;
        *) echo "release: no Docker platform for $target" >&2; exit 1 ;;
    esac
    tag=$IMAGE_NAME:$VERSION-$arch
    [ -x "$OUT/linux-$arch/$NAME" ] || { echo "release: no $OUT/linux-$arch/$NAME" >&2; exit 1; }
    # The revision the binary was built from and that commit's time, as its SBOM records them.
    read -r revision created < <(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["metadata"]
print(next(p["value"] for p in m["component"]["properties"] if p["name"] == "sp-entrypoint:revision"), m["timestamp"])' "$OUT/$NAME-$VERSION-$target.cdx.json")
    "$DOCKER" build -q -f Dockerfile.dist --platform "linux/$arch" \
        --build-arg VERSION="$VERSION" --build-arg REVISION="$revision" \
        --build-arg CREATED="$created" --build-arg SOURCE="$source_url" \
        -t "$tag" "$OUT/linux-$arch" >/dev/null
    size=$("$DOCKER" image inspect -f '{{.Size}}' "$tag")
    echo "release: image $tag ($arch, $size bytes)"
    if [ "$arch" = "$host_arch" ]; then
        "$DOCKER" tag "$tag" "$IMAGE_NAME:$VERSION"
        "$DOCKER" tag "$tag" "$IMAGE_NAME:latest"
        echo "release: image $IMAGE_NAME:$VERSION and :latest = $tag (this host's platform)"
    fi
done
