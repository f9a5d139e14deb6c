#!/usr/bin/env python3
"""Crash torture: SIGKILL the daemon at random moments, then check that nothing was lost.

    python3 benches/torture.py [--rounds 100] [--tree-mib 12] [--seed N]

A real tree (a copy of part of the benchmark corpus, benches/.corpus) is indexed, changed and
re-indexed by the real `codesaged`, which is killed with SIGKILL at a random moment of one of
four kinds of work, chosen in turn:

* first indexing   — the store is deleted, `codesage index` starts from nothing;
* incremental      — files are edited, added and deleted, then `codesage index` reconciles;
* watcher batches  — files change while the daemon watches (many small batches, which is
                     what makes the store merge trigram segments);
* compaction       — `codesage compact` rewrites the store file.

After every kill: `codesage check` (redb's integrity check and the store's invariants) must
pass on the store as the kill left it; the daemon is restarted and reconciles; then every
answer of a fixed set of searches and symbol lookups must equal the answer of a fresh index
of the same files (a second data directory indexed from nothing). The tally (kills per kind,
recoveries, corrupt stores, stale answers) is printed as a markdown table; the exit status is
1 if any store was corrupt or any answer differed. Release binaries in target/release.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target" / "release"
CORPUS = REPO / "benches" / ".corpus"

SEARCHES = [
    ["fn ", "-t", "rust"],
    ["impl<T>"],
    [r"class \w+Error\b"],
    ["TODO|FIXME"],
    ["torture-marker-[0-9]+"],
    ["-i", "serialize"],
]
SYMBOLS = ["new", "parse", "Error", "from_str", "deserialize"]


class Env:
    """One data directory and socket, with the commands run against it."""

    def __init__(self, base: Path, name: str):
        self.dir = base / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(
            CODESAGE_SOCKET=str(self.dir / "s.sock"),
            CODESAGE_DATA_DIR=str(self.dir / "data"),
            CODESAGE_CONFIG=str(self.dir / "none.toml"),
            CODESAGE_ENV_FILE=str(self.dir / "none.env"),
            CODESAGE_DAEMON_BIN=str(BIN / "codesaged"),
            RUST_LOG="warn",
        )

    def run(self, *args, check=True, timeout=300):
        done = subprocess.run(
            [str(BIN / "codesage"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"codesage {' '.join(args)}: {done.stderr.strip()}")
        return done

    def spawn(self, *args):
        return subprocess.Popen(
            [str(BIN / "codesage"), *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def daemon_pid(self):
        try:
            return int((self.dir / "s.sock.lock").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self):
        pid = self.daemon_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.01)
        return True

    def stop(self):
        self.run("stop", check=False)


def answers(env: Env, tree: Path):
    """Every search and symbol answer, without what differs between stores (generations)."""
    out = {}
    for args in SEARCHES:
        done = env.run("search", *args, "--root", str(tree), "--max-results", "0", check=False)
        out["search " + " ".join(args)] = (done.returncode, done.stdout)
    for name in SYMBOLS:
        done = env.run(
            "tool",
            "find_symbol",
            json.dumps({"codebase_path": str(tree), "name": name, "max_results": 0}),
            check=False,
        )
        try:
            answer = json.loads(done.stdout)
            answer.pop("index_generation", None)
            out["symbol " + name] = json.dumps(answer, sort_keys=True)
        except json.JSONDecodeError:
            out["symbol " + name] = done.stdout + done.stderr
    return out


def change_files(tree: Path, rng: random.Random, count: int, round_no: int):
    files = [p for p in tree.rglob("*") if p.is_file()]
    for path in rng.sample(files, min(count, len(files))):
        action = rng.random()
        if action < 0.6:
            with open(path, "a", encoding="utf-8", errors="ignore") as f:
                f.write(f"\n// torture-marker-{round_no}-{rng.randrange(10**6)}\n")
        elif action < 0.8:
            path.unlink()
        else:
            copy = path.with_name(f"torture_{round_no}_{rng.randrange(10**6)}_{path.name}")
            shutil.copyfile(path, copy)


def build_tree(dest: Path, mib: int):
    """Copies whole crates of the corpus until `mib` MiB of files."""
    budget = mib * 1024 * 1024
    taken = 0
    for crate in sorted(p for p in (CORPUS / "rust").iterdir() if p.is_dir()):
        if taken >= budget:
            break
        size = sum(p.stat().st_size for p in crate.rglob("*") if p.is_file())
        shutil.copytree(crate, dest / crate.name, symlinks=False)
        taken += size
    return taken


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--tree-mib", type=int, default=12)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if not (BIN / "codesaged").exists():
        sys.exit("build the release binaries first: cargo build --release -p codesage -p codesaged")
    base = Path(tempfile.mkdtemp(prefix="codesage-torture."))
    tree = base / "tree"
    tree.mkdir()
    size = build_tree(tree, args.tree_mib)
    victim = Env(base, "victim")
    kinds = ["first indexing", "incremental", "watcher batches", "compaction"]
    tally = {kind: {"kills": 0, "recovered": 0, "corrupt": 0, "stale": 0} for kind in kinds}
    failures = []
    print(f"tree: {size / 1048576:.1f} MiB in {base}; seed {args.seed}", file=sys.stderr)
    victim.run("index", str(tree))
    for round_no in range(args.rounds):
        kind = kinds[round_no % len(kinds)]
        if kind == "first indexing":
            victim.stop()
            shutil.rmtree(victim.dir / "data", ignore_errors=True)
            work = victim.spawn("index", str(tree))
            time.sleep(rng.uniform(0.05, 4.0))
        elif kind == "incremental":
            victim.stop()
            change_files(tree, rng, rng.randrange(20, 200), round_no)
            work = victim.spawn("index", str(tree))
            time.sleep(rng.uniform(0.05, 1.5))
        elif kind == "watcher batches":
            if victim.run("status", "--json", check=False).returncode != 0:
                victim.run("index", str(tree))
            work = None
            deadline = time.time() + rng.uniform(0.2, 3.0)
            while time.time() < deadline:
                change_files(tree, rng, rng.randrange(1, 10), round_no)
                time.sleep(rng.uniform(0.0, 0.1))
        else:
            if victim.run("status", "--json", check=False).returncode != 0:
                victim.run("index", str(tree))
            change_files(tree, rng, 100, round_no)
            victim.run("index", str(tree))
            work = victim.spawn("compact")
            time.sleep(rng.uniform(0.0, 0.5))
        killed = victim.kill()
        if work is not None:
            work.kill()
            work.wait()
        if not killed:
            # The work ended before the kill: still a restart to check, not a kill.
            victim.stop()
        tally[kind]["kills"] += int(killed)
        # The store as the kill left it.
        checked = victim.run("check", "--json", check=False, timeout=600)
        if checked.returncode != 0:
            tally[kind]["corrupt"] += 1
            failures.append(f"round {round_no} ({kind}): check failed: {checked.stdout[-400:]} {checked.stderr[-400:]}")
            shutil.rmtree(victim.dir / "data", ignore_errors=True)
            victim.run("index", str(tree))
            continue
        victim.run("index", str(tree))
        tally[kind]["recovered"] += 1
        fresh = Env(base, f"fresh{round_no}")
        fresh.run("index", str(tree))
        expected = answers(fresh, tree)
        filled = sum(1 for value in expected.values() if (value[1] if isinstance(value, tuple) else value).strip())
        if filled * 2 < len(expected):
            raise RuntimeError(f"the fresh index answers too little to compare with: {expected}")
        fresh.stop()
        shutil.rmtree(fresh.dir, ignore_errors=True)
        got = answers(victim, tree)
        differing = [key for key in expected if expected[key] != got.get(key)]
        if differing:
            tally[kind]["stale"] += 1
            failures.append(f"round {round_no} ({kind}): answers differ: {differing}")
        print(f"round {round_no + 1}/{args.rounds} {kind}: killed={killed} ok={not differing}", file=sys.stderr)
    victim.stop()
    print(f"Crash torture: {args.rounds} rounds on {size / 1048576:.1f} MiB of Rust sources (seed {args.seed}).\n")
    print("| work killed | kills | store check passed, recovered | corrupt stores | stale answers |")
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        t = tally[kind]
        print(f"| {kind} | {t['kills']} | {t['recovered']} | {t['corrupt']} | {t['stale']} |")
    total = {key: sum(t[key] for t in tally.values()) for key in ["kills", "recovered", "corrupt", "stale"]}
    print(f"| **all** | {total['kills']} | {total['recovered']} | {total['corrupt']} | {total['stale']} |")
    for failure in failures:
        print(f"\n- {failure}")
    shutil.rmtree(base, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
