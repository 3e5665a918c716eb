# The sp-entrypoint image: one static binary in an otherwise empty (scratch) image, for app
# images to copy from (see examples/Dockerfile and the README's "Deploy" section).
#
#   docker build -t sp-entrypoint .                      # compile in the build stage (needs rust:1-bookworm)
#   cargo build --locked --release --target x86_64-unknown-linux-musl
#   DOCKER_BUILDKIT=1 docker build --build-arg BINARY_SOURCE=prebuilt -t sp-entrypoint .
#                                                        # no registry: use the binary built on the host
#
# BINARY_SOURCE picks the stage the binary comes from: `build` (compile here) or `prebuilt`
# (target/x86_64-unknown-linux-musl/release/sp-entrypoint from the build context). With
# BuildKit (`docker buildx build`, or `DOCKER_BUILDKIT=1 docker build`) only the stage named
# is built, so `prebuilt` needs no base image at all.
ARG BINARY_SOURCE=build
ARG RUST_VERSION=1

# ---- build: compile the static musl binary -------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
ARG TARGET=x86_64-unknown-linux-musl
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "${TARGET}"
WORKDIR /src
# Dependencies first, in their own layer: the manifests of the whole workspace (the
# `fake-cloud` member included, or `--locked` fails), the link settings (`.cargo/config.toml`:
# static non-PIE; `build.rs`: no unwind tables; see BENCHMARKS.md) and stub sources, so this
# layer is rebuilt only when those change.
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo .cargo
COPY fake-cloud/Cargo.toml fake-cloud/Cargo.toml
RUN mkdir -p src fake-cloud/src \
 && printf '//! stub\nfn main() {}\n' | tee src/main.rs > fake-cloud/src/main.rs \
 && echo '//! stub' | tee src/lib.rs > fake-cloud/src/lib.rs \
 && cargo build --locked --release --target "${TARGET}" -p sp-entrypoint \
 && rm -rf src target/"${TARGET}"/release/.fingerprint/sp-entrypoint-* \
           target/"${TARGET}"/release/deps/sp_entrypoint-* target/"${TARGET}"/release/deps/libsp_entrypoint-*
# Then the real sources (fake-cloud is a test helper: its stub stays).
COPY src src
RUN touch src/main.rs src/lib.rs \
 && cargo build --locked --release --target "${TARGET}" -p sp-entrypoint \
 && mkdir -p /out \
 && cp target/"${TARGET}"/release/sp-entrypoint /out/sp-entrypoint \
 && /out/sp-entrypoint --version

# ---- prebuilt: the binary built on the host, from the build context -----------------------
FROM scratch AS prebuilt
COPY target/x86_64-unknown-linux-musl/release/sp-entrypoint /out/sp-entrypoint

# ---- binary: whichever of the two BINARY_SOURCE names --------------------------------------
FROM ${BINARY_SOURCE} AS binary

# ---- final: the binary and nothing else ----------------------------------------------------
# No shell, no /etc/ssl (the TLS roots are embedded; SSL_CERT_FILE adds more), no /etc/passwd
# (numeric USER), no /tmp (nothing is written unless --write-credentials names a path).
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sp-entrypoint" \
      org.opencontainers.image.description="Validate SystemPrompt Cloud credentials at container boot, prove them with whoami, then exec (or, as PID 1, supervise) the app." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=binary /out/sp-entrypoint /sp-entrypoint
USER 65532:65532
ENTRYPOINT ["/sp-entrypoint", "--"]
