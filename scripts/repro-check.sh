#!/usr/bin/env bash
# Reproducibility check: the release binary built from a fresh clone of HEAD, in another
# directory and with another CARGO_HOME, must be byte-identical to the one in dist/.
#
#   bash scripts/release.sh && bash scripts/repro-check.sh     # what CI runs
#   TARGET=aarch64-unknown-linux-musl bash scripts/repro-check.sh
#
# dist/ must hold a release of HEAD from a clean checkout (as in CI); otherwise (edits not
# committed, or no dist/ for HEAD) the script builds a second fresh clone instead and compares
# the two. One target (default x86_64; every binary goes through the same flags), to keep CI
# cheap. Exits 1 with both SHA-256s on a difference.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${TARGET:-x86_64-unknown-linux-musl}
DIST=${DIST:-dist}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
revision=$(git rev-parse --short=12 HEAD)
name=sp-entrypoint-$version-$TARGET

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sp-repro.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

# build DIR CARGO_HOME: a fresh clone of HEAD at DIR, released into DIR/out.
build() {
    local dir=$1 home=$2
    git clone -q --no-hardlinks "$PWD" "$dir"
    git -C "$dir" checkout -q --detach "$revision"
    # The registry as it is here (no network needed), under another path: hard links when
    # possible.
    mkdir -p "$home"
    local cargo_home=${CARGO_HOME:-$HOME/.cargo}
    if [ -d "$cargo_home/registry" ]; then
        cp -al "$cargo_home/registry" "$home/registry" 2>/dev/null || cp -a "$cargo_home/registry" "$home/registry"
    fi
    (cd "$dir" && env -u CARGO_TARGET_DIR -u SP_ENTRYPOINT_REVISION -u SOURCE_DATE_EPOCH CARGO_HOME="$home" \
        TARGETS="$TARGET" OUT=out bash scripts/release.sh >"$tmp/build.log" 2>&1) ||
        { tail -n 30 "$tmp/build.log" >&2; echo "repro-check: the build in $dir failed" >&2; exit 1; }
    echo "$dir/out/$name"
}

clean=no
if [ -z "$(git status --porcelain --untracked-files=no)" ] && [ -f "$DIST/$name" ] &&
    "$DIST/$name" --version 2>/dev/null | grep -qF "(rev $revision,"; then
    clean=yes
fi

t0=$(date +%s)
if [ $clean = yes ]; then
    a=$DIST/$name
    echo "repro-check: $a (this checkout, $(pwd -P)) against a fresh clone"
else
    echo "repro-check: no clean release of HEAD in $DIST/: building two fresh clones"
    a=$(build "$tmp/one/sp-entrypoint" "$tmp/one/cargo-home")
fi
b=$(build "$tmp/second-clone-elsewhere/src/sp-entrypoint" "$tmp/second-clone-elsewhere/cargo")
sa=$(sha256sum "$a" | cut -d' ' -f1)
sb=$(sha256sum "$b" | cut -d' ' -f1)
echo "repro-check: $sa  $a"
echo "repro-check: $sb  $b"
if cmp -s "$a" "$b"; then
    echo "repro-check: byte-identical ($(stat -c %s "$a") bytes, $TARGET, rev $revision) in $(($(date +%s) - t0)) s"
else
    echo "repro-check: DIFFERENT: $(cmp "$a" "$b" | head -n1); the paths in one and not the other:" >&2
    diff <(strings -n 8 "$a" | grep / | sort -u) <(strings -n 8 "$b" | grep / | sort -u) | head -n 20 >&2 || true
    exit 1
fi
