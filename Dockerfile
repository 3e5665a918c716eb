# The sp-entrypoint image built from source: one static binary in an otherwise empty (scratch)
# image, for app images to copy from (see examples/Dockerfile and the README's "Deploy").
#
# Needs BuildKit (`docker buildx build`, or `DOCKER_BUILDKIT=1 docker build` on a CLI that has
# it built in) and a registry (it pulls rust:1-bookworm). The build stage runs on the build
# machine's platform and cross-compiles for the image's (TARGETARCH): no emulation.
#
#   docker buildx build --platform linux/amd64 -t sp-entrypoint .
#   docker buildx build --platform linux/arm64 -t sp-entrypoint:arm64 --load .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/sp-entrypoint:0.2.0 \
#       --build-arg VERSION=0.2.0 --build-arg REVISION=$(git rev-parse --short=12 HEAD) --push .
#
# Without a registry, or without BuildKit: `bash scripts/release.sh --images`, which builds
# the binaries on the host and the images from Dockerfile.dist (scratch only, any builder).
ARG RUST_VERSION=1

# ---- build: compile the static musl binary for TARGETARCH ------------------------------------
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
# The git revision for --version (the build context has no .git).
ARG REVISION=unknown
ENV SP_ENTRYPOINT_REVISION=${REVISION}
RUN case "${TARGETARCH}" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "sp-entrypoint: no build for TARGETARCH=${TARGETARCH} (amd64, arm64)" >&2; exit 1 ;; \
    esac >/target \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "$(cat /target)"
WORKDIR /src
# Dependencies first, in their own layer: the manifests of the whole workspace (the
# `fake-cloud` member included, or `--locked` fails), the cargo config (linker, C compiler and
# link mode per target) and stub sources, so this layer is rebuilt only when they change.
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo/config.toml .cargo/config.toml
COPY fake-cloud/Cargo.toml fake-cloud/Cargo.toml
RUN mkdir -p src fake-cloud/src \
 && printf '//! stub\nfn main() {}\n' | tee src/main.rs > fake-cloud/src/main.rs \
 && echo '//! stub' | tee src/lib.rs > fake-cloud/src/lib.rs \
 && cargo build --locked --release --target "$(cat /target)" -p sp-entrypoint \
 && rm -rf src target/*/release/.fingerprint/sp-entrypoint-* \
           target/*/release/deps/sp_entrypoint-* target/*/release/deps/libsp_entrypoint-*
# Then the real sources (fake-cloud is a test helper: its stub stays).
COPY src src
RUN touch src/main.rs src/lib.rs \
 && cargo build --locked --release --target "$(cat /target)" -p sp-entrypoint \
 && mkdir -p /out \
 && cp target/"$(cat /target)"/release/sp-entrypoint /out/sp-entrypoint

# ---- final: the binary and nothing else ----------------------------------------------------
# No shell, no /etc/ssl (the TLS roots are embedded; SSL_CERT_FILE adds more), no /etc/passwd
# (numeric USER), no /tmp (nothing is written unless --write-credentials names a path).
FROM scratch
COPY --from=build /out/sp-entrypoint /sp-entrypoint
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED
ARG SOURCE
LABEL org.opencontainers.image.title="sp-entrypoint" \
      org.opencontainers.image.description="Validate SystemPrompt Cloud credentials at container boot, prove them with whoami, then exec (or, as PID 1, supervise) the app." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
USER 65532:65532
ENTRYPOINT ["/sp-entrypoint", "--"]
