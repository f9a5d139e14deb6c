#!/usr/bin/env bash
# Daemon memory on the benchmark corpus, per component, as `codesage status` reports it.
#
#   benches/memory.sh            (release binaries in target/release; corpus from benches/corpus.py)
#
# Five moments on a fresh data directory: after the first index, after searches and symbol
# lookups plus an idle pause of 10 s and of 65 s (past `memory.idle_release_secs`), after
# semantic searches (which build the root's semantic index;
# without a model it is the lexical index), and after a restart of the daemon on the same
# store. Prints RSS/source, store/source and the per-component table of each moment
# (markdown). Environment: MEMORY_SEMANTIC_WAIT (seconds the semantic index gets to build,
# default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 benches/corpus.py >/dev/null
bin="$PWD/target/release"
corpus="$PWD/benches/.corpus"
work=$(mktemp -d /tmp/codesage-memory.XXXX)
trap 'CODESAGE_SOCKET=$work/s.sock CODESAGE_DATA_DIR=$work/data "$bin/codesage" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export CODESAGE_SOCKET=$work/s.sock CODESAGE_DATA_DIR=$work/data CODESAGE_CONFIG=$work/none.toml \
  CODESAGE_ENV_FILE=$work/none.env CODESAGE_DAEMON_BIN=$bin/codesaged RUST_LOG=warn
cs() { "$bin/codesage" "$@"; }
snapshot() { cs status --json > "$work/$1.json"; }

cs index "$corpus" >/dev/null
sleep 3
snapshot indexed
for pattern in poll_read_buf spawn_blocking return 'fn \w+_unchecked\(' 'class \w+Error\b' 'TODO|FIXME|XXX'; do
  cs search "$pattern" --root "$corpus" --max-results 20 >/dev/null 2>&1
done
for name in Symbol QuerySet useState; do
  cs tool find_symbol "{\"codebase_path\":\"$corpus\",\"name\":\"$name\"}" >/dev/null
done
sleep 10
snapshot queried
# A minute and more without questions (memory.idle_release_secs, 60 by default): the caches
# quick to refill are emptied.
sleep 55
snapshot idle
ask() { cs tool semantic_search_codebase "{\"codebase_path\":\"$corpus\",\"query\":\"$1\"}" >/dev/null; }
ask "parse a date string"
sleep "${MEMORY_SEMANTIC_WAIT:-90}"
ask "retry a request with backoff"
sleep 5
snapshot semantic
cs stop >/dev/null
sleep 2
cs index "$corpus" >/dev/null
sleep 5
snapshot restarted

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
moments = [("after indexing", "indexed"), ("after queries, idle 10 s", "queried"),
           ("after queries, idle 65 s", "idle"),
           ("after semantic searches", "semantic"), ("after a restart", "restarted")]
reports = {key: json.load(open(f"{work}/{key}.json")) for _, key in moments}
source = reports["indexed"]["roots"][0]["bytes"]
mib = lambda b: f"{b / 1048576:.1f}"
print(f"source indexed: {mib(source)} MiB\n")
print("| moment | RSS MiB | RSS / source | heap MiB | store MiB | store / source |")
print("|---|---:|---:|---:|---:|---:|")
for label, key in moments:
    r = reports[key]
    heap = r["memory"].get("heap_bytes") or 0
    print(f"| {label} | {mib(r['rss_bytes'])} | {r['rss_bytes'] / source:.2f} | {mib(heap)} | "
          f"{mib(r['store_bytes'])} | {r['store_bytes'] / source:.2f} |")
names = []
for _, key in moments:
    for part in reports[key]["memory"]["parts"]:
        if part["name"] not in names:
            names.append(part["name"])
print("\n| component, MiB | " + " | ".join(label for label, _ in moments) + " |")
print("|---|" + "---:|" * len(moments))
for name in names:
    row = []
    for _, key in moments:
        found = [p for p in reports[key]["memory"]["parts"] if p["name"] == name]
        row.append(mib(found[0]["bytes"]) if found else "—")
    print(f"| {name} | " + " | ".join(row) + " |")
PY
