# CodeSage in a container: codesaged in remote mode, serving MCP over Streamable HTTP at
# http://HOST:8765/mcp for the code mounted at /code, its index on the /data volume.
#
#   docker build -t codesage .
#   docker run -d -p 8765:8765 -v "$PWD:/code:ro" -v codesage-data:/data \
#       -e CODESAGE_REMOTE_TOKEN="$(openssl rand -hex 32)" codesage
#
# See compose.yaml and the README's "Docker" section (resource limits, TLS, tokens).

# --- build: the two binaries, release profile, from the lock file ---
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p codesage -p codesaged \
    && strip target/release/codesage target/release/codesaged

# --- runtime: Debian slim, no compiler, a non-root user ---
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/codesage codesage \
    && mkdir -p /data /code \
    && chown codesage:codesage /data
COPY --from=build /src/target/release/codesage /src/target/release/codesaged /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/codesage-entrypoint
ENV CODESAGE_DATA_DIR=/data \
    CODESAGE_CODE_DIR=/code \
    CODESAGE_PORT=8765 \
    CODESAGE_PROFILE=production \
    RUST_LOG=info
USER codesage
VOLUME ["/data"]
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["codesage-entrypoint", "healthcheck"]
ENTRYPOINT ["codesage-entrypoint"]
CMD ["serve"]
