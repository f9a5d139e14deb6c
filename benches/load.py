#!/usr/bin/env python3
"""Load: many concurrent MCP clients, each through its own real shim, while files change.

    python3 benches/load.py [--clients 64] [--calls 2000] [--tree-mib 40]

Each client is a `codesage mcp` process (the shim an editor runs) speaking JSON-RPC over its
stdin/stdout to one shared `codesaged`. After `initialize`, every client makes `--calls` tool
calls, one at a time, drawn from a fixed mix: exact search, symbol lookup, file outline, file
read, references, and semantic search (lexical without a model). Meanwhile a writer edits,
adds and deletes files in the tree, so the live index churns under the readers.
The daemon's connection limit is set to the number of clients plus one (for the status
requests); once the load is over, one more session takes the spare connection and the next
shim started must be refused with a message (not hang). Reported: calls and errors per tool with p50/p95/p99 latency, the
daemon's RSS and open file descriptors before and after, and the refusal. Exit status 1 on
any error. Release binaries in target/release (or $CODESAGE_BENCH_BIN); the tree is copied
from benches/.corpus.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# CODESAGE_BENCH_BIN: another directory of release binaries (a long soak keeps a copy of
# them, so rebuilding target/release meanwhile does not change what it runs).
BIN = Path(os.environ.get("CODESAGE_BENCH_BIN", REPO / "target" / "release"))
CORPUS = REPO / "benches" / ".corpus"


def build_tree(dest: Path, mib: int):
    budget = mib * 1024 * 1024
    taken = 0
    for language in ("rust", "python", "js"):
        for package in sorted(p for p in (CORPUS / language).iterdir() if p.is_dir()):
            if taken >= budget:
                return taken
            size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
            if taken + size > budget * 1.2:
                continue
            shutil.copytree(package, dest / language / package.name, symlinks=False)
            taken += size
    return taken


def proc_figures(pid: int):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


class Client:
    def __init__(self, env, number, label="load", stderr=asyncio.subprocess.PIPE):
        self.env = env
        self.number = number
        self.label = label
        # Where the shim's stderr goes; a long run passes a file, since nothing drains the pipe.
        self.stderr = stderr
        self.next_id = 0

    async def start(self):
        self.proc = await asyncio.create_subprocess_exec(
            str(BIN / "codesage"),
            "mcp",
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr,
            limit=64 * 1024 * 1024,
        )
        await self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": f"{self.label}-{self.number}", "version": "1"},
            },
        )
        await self.notify("notifications/initialized")

    async def notify(self, method):
        self.proc.stdin.write((json.dumps({"jsonrpc": "2.0", "method": method}) + "\n").encode())
        await self.proc.stdin.drain()

    async def request(self, method, params):
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise RuntimeError(f"shim {self.number} closed: {err.decode(errors='replace')}")
            reply = json.loads(line)
            if reply.get("id") == self.next_id:
                return reply

    async def close(self):
        self.proc.stdin.close()
        await self.proc.wait()


def call_mix(tree: Path, files, names, rng):
    """One tool call of the mix: (tool name, arguments)."""
    root = str(tree)
    kind = rng.random()
    if kind < 0.30:
        pattern = rng.choice(["fn new", "impl<T>", r"class \w+Error\b", "TODO", "serialize", "return None"])
        return "search_codebase", {"codebase_path": root, "pattern": pattern, "max_results": 20}
    if kind < 0.50:
        return "find_symbol", {"codebase_path": root, "name": rng.choice(names), "max_results": 10}
    if kind < 0.65:
        return "get_file_structure", {"codebase_path": root, "file_path": rng.choice(files)}
    if kind < 0.80:
        return "read_code_file", {"codebase_path": root, "file_path": rng.choice(files), "max_tokens": 2000}
    if kind < 0.92:
        return "find_references", {"codebase_path": root, "symbol": rng.choice(names), "max_results": 20}
    query = rng.choice(["parse a date", "retry with backoff", "open a connection", "serialize to json"])
    return "semantic_search_codebase", {"codebase_path": root, "query": query, "top_k": 5}


async def run_client(client, calls, tree, files, names, seed, stats):
    rng = random.Random(seed)
    for _ in range(calls):
        tool, arguments = call_mix(tree, files, names, rng)
        started = time.perf_counter()
        reply = await client.request("tools/call", {"name": tool, "arguments": arguments})
        elapsed = time.perf_counter() - started
        entry = stats.setdefault(tool, {"latencies": [], "errors": 0, "examples": []})
        entry["latencies"].append(elapsed)
        failed = "error" in reply or reply.get("result", {}).get("isError")
        if failed:
            message = json.dumps(reply)[:300]
            # A file the writer just deleted is a correct "not found", not a failure.
            if "not found" in message or "does not exist" in message or "No such file" in message:
                entry.setdefault("vanished", 0)
                entry["vanished"] = entry.get("vanished", 0) + 1
            else:
                entry["errors"] += 1
                if len(entry["examples"]) < 3:
                    entry["examples"].append(message)


async def writer(tree: Path, stop: asyncio.Event, counter):
    rng = random.Random(7)
    mine = []
    while not stop.is_set():
        if mine and rng.random() < 0.3:
            os.unlink(mine.pop(rng.randrange(len(mine))))
        else:
            path = tree / f"churn_{rng.randrange(10**9)}.py"
            path.write_text(f"def churn_{rng.randrange(10**6)}(x):\n    return x + 1\n")
            mine.append(path)
        counter[0] += 1
        await asyncio.sleep(0.05)


async def heap_bytes(env):
    """The daemon's counted heap, from `codesage status --json`."""
    status = await asyncio.create_subprocess_exec(
        str(BIN / "codesage"), "status", "--json", env=env, stdout=asyncio.subprocess.PIPE
    )
    report = json.loads((await status.communicate())[0])
    return report["memory"].get("heap_bytes") or 0


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main_async(args):
    base = Path(tempfile.mkdtemp(prefix="codesage-load."))
    tree = base / "tree"
    tree.mkdir()
    size = build_tree(tree, args.tree_mib)
    env = dict(os.environ)
    env.update(
        CODESAGE_SOCKET=str(base / "s.sock"),
        CODESAGE_DATA_DIR=str(base / "data"),
        CODESAGE_CONFIG=str(base / "none.toml"),
        CODESAGE_ENV_FILE=str(base / "none.env"),
        CODESAGE_DAEMON_BIN=str(BIN / "codesaged"),
        # One more than the clients: `codesage status` needs a connection too.
        CODESAGE_SERVER__MAX_CONNECTIONS=str(args.clients + 1),
        RUST_LOG="warn",
    )
    index = await asyncio.create_subprocess_exec(
        str(BIN / "codesage"), "index", str(tree), env=env, stdout=asyncio.subprocess.DEVNULL
    )
    await index.wait()
    status = await asyncio.create_subprocess_exec(
        str(BIN / "codesage"), "status", "--json", env=env, stdout=asyncio.subprocess.PIPE
    )
    pid = json.loads((await status.communicate())[0])["pid"]
    # Files the tools serve (under index.max_file_size); a larger one is a correct refusal.
    def servable(paths):
        return [str(p.relative_to(tree)) for p in paths if p.stat().st_size <= 1024 * 1024]

    files = servable(tree.rglob("*.rs"))[:2000] + servable(tree.rglob("*.py"))[:2000]
    names = ["new", "parse", "Error", "from_str", "deserialize", "visit_map", "__init__", "get", "run", "build"]

    clients = [Client(env, n) for n in range(args.clients)]
    await asyncio.gather(*(client.start() for client in clients))
    # Warm-up: one round of the mix on every session, so the semantic index is built and the
    # caches are filled before "before" is taken; what grows after is what sessions add.
    warm = {}
    await asyncio.gather(*(run_client(c, 20, tree, files, names, 1000 + n, warm) for n, c in enumerate(clients)))
    await asyncio.sleep(5)
    rss_before, fds_before = proc_figures(pid)
    heap_before = await heap_bytes(env)
    stats = {}
    stop = asyncio.Event()
    changes = [0]
    churn = asyncio.create_task(writer(tree, stop, changes))
    started = time.perf_counter()
    await asyncio.gather(
        *(run_client(c, args.calls, tree, files, names, n, stats) for n, c in enumerate(clients))
    )
    wall = time.perf_counter() - started
    stop.set()
    await churn
    await asyncio.sleep(5)
    rss_after, fds_after = proc_figures(pid)
    heap_after = await heap_bytes(env)

    # One client past the limit, while every client is still connected: a last session
    # takes the spare connection, the next one must be refused.
    holder = Client(env, args.clients)
    await holder.start()
    extra = await asyncio.create_subprocess_exec(
        str(BIN / "codesage"),
        "mcp",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "extra", "version": "1"}}}
    try:
        out, err = await asyncio.wait_for(extra.communicate((json.dumps(init) + "\n").encode()), 20)
        refusal = f"exit {extra.returncode}: {err.decode(errors='replace').strip()[:200]}"
        refused = extra.returncode != 0 and not out
    except asyncio.TimeoutError:
        extra.kill()
        refusal, refused = "no answer within 20 s", False

    await asyncio.gather(*(client.close() for client in clients + [holder]))
    stop_daemon = await asyncio.create_subprocess_exec(str(BIN / "codesage"), "stop", env=env, stdout=asyncio.subprocess.DEVNULL)
    await stop_daemon.wait()
    shutil.rmtree(base, ignore_errors=True)

    total = sum(len(s["latencies"]) for s in stats.values())
    errors = sum(s["errors"] for s in stats.values())
    print(f"Load: {args.clients} clients × {args.calls} calls through their own shims on {size / 1048576:.1f} MiB, "
          f"{changes[0]} file changes meanwhile; {total} calls in {wall:.1f} s ({total / wall:.0f} calls/s).\n")
    print("| tool | calls | errors | file gone meanwhile | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for tool, s in sorted(stats.items()):
        lat = s["latencies"]
        print(f"| {tool} | {len(lat)} | {s['errors']} | {s.get('vanished', 0)} | {1000 * percentile(lat, 0.5):.1f} | "
              f"{1000 * percentile(lat, 0.95):.1f} | {1000 * percentile(lat, 0.99):.1f} |")
    print(f"\nOver the run, after a warm-up of 20 calls per session (all {args.clients} sessions open at both points): "
          f"daemon RSS {rss_before / 1048576:.0f} → {rss_after / 1048576:.0f} MiB, heap {heap_before / 1048576:.0f} → "
          f"{heap_after / 1048576:.0f} MiB, open files {fds_before} → {fds_after}.")
    print(f"Client {args.clients + 2} past `server.max_connections = {args.clients + 1}`: "
          f"{'refused' if refused else 'NOT refused'} ({refusal}).")
    for tool, s in stats.items():
        for example in s["examples"]:
            print(f"\n- {tool}: {example}")
    return 0 if errors == 0 and refused else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--tree-mib", type=int, default=40)
    args = parser.parse_args()
    if not (BIN / "codesaged").exists():
        sys.exit("build the release binaries first: cargo build --release -p codesage -p codesaged")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
