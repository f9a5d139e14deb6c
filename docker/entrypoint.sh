#!/usr/bin/env bash
# Entry point of the CodeSage container (also runnable without Docker, which is how the test
# suite checks it):
#   serve        start codesaged in remote mode on 0.0.0.0:$CODESAGE_PORT, sharing
#                $CODESAGE_CODE_DIR (indexed at start), until SIGTERM/SIGINT
#   healthcheck  exit 0 when /healthz answers 200 (Docker's HEALTHCHECK)
# Needs CODESAGE_REMOTE_TOKEN (or remote.tokens_file in the configuration).
set -euo pipefail

port="${CODESAGE_PORT:-8765}"
code_dir="${CODESAGE_CODE_DIR:-/code}"

healthcheck() {
    # bash's /dev/tcp: no curl in the image.
    exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
    printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    local status
    IFS= read -r -t 5 status <&3 || exit 1
    [[ "$status" == *" 200 "* ]]
}

serve() {
    if [[ -z "${CODESAGE_REMOTE_TOKEN:-}" && -z "${CODESAGE_REMOTE__TOKENS_FILE:-}" ]]; then
        echo "codesage-entrypoint: set CODESAGE_REMOTE_TOKEN (e.g. \`openssl rand -hex 32\`) or CODESAGE_REMOTE__TOKENS_FILE" >&2
        exit 2
    fi
    export CODESAGE_REMOTE__ALLOWED_ROOTS="${CODESAGE_REMOTE__ALLOWED_ROOTS:-[\"${code_dir}\"]}"
    # Clients reach the container under names the operator knows; tokens guard it.
    export CODESAGE_REMOTE__ALLOWED_HOSTS="${CODESAGE_REMOTE__ALLOWED_HOSTS:-[\"*\"]}"
    codesaged --listen "http://0.0.0.0:${port}" --log-stderr &
    local daemon=$!
    trap 'kill -TERM "$daemon" 2>/dev/null' TERM INT
    # Index the shared code once the daemon listens; it stays fresh through the watcher.
    if [[ -d "$code_dir" ]]; then
        for _ in $(seq 1 100); do
            if codesage status >/dev/null 2>&1; then break; fi
            sleep 0.1
        done
        codesage index "$code_dir" || echo "codesage-entrypoint: indexing $code_dir failed; the daemon keeps serving" >&2
    fi
    # A signal interrupts `wait`; keep waiting until the graceful shutdown has finished, and
    # exit with the daemon's own status.
    local status=0
    while kill -0 "$daemon" 2>/dev/null; do
        wait "$daemon" && status=0 || status=$?
    done
    local last=0
    wait "$daemon" 2>/dev/null && last=0 || last=$?
    if [[ "$last" != 127 ]]; then status=$last; fi
    exit "$status"
}

case "${1:-serve}" in
    serve) serve ;;
    healthcheck) healthcheck ;;
    *) exec "$@" ;;
esac
