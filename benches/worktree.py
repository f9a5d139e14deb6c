#!/usr/bin/env python3
"""The cost of a second worktree: indexing a copy of an indexed root with 1% of its files changed.

    python3 benches/worktree.py [--changed 0.01] [--markdown]

On a fresh data directory, through the auto-started daemon (release binaries in
target/release): `codesage index A` (A = a copy of benches/.corpus), then B = a copy of A in
which 1% of the source files have a line appended, and `codesage index B`. Reported for each:
wall time and store growth (the bytes of keys and values the store holds, from `codesage
status --json`, and the store file after `codesage compact`), and B's cost as a share of A's.
Then `codesage forget B` and what it gave back. The copies are made outside the timings.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target" / "release"
CORPUS = REPO / "benches" / ".corpus"
# `codesage status` reuses the store's space figures for 30 s.
SPACE_MAX_AGE = 31
SOURCE_SUFFIXES = {".py", ".rs", ".js", ".ts", ".mjs", ".cjs", ".go", ".java", ".c", ".h"}


def cs(env, *args, check=True):
    return subprocess.run([str(BIN / "codesage"), *args], env=env, check=check,
                          capture_output=True, text=True)


def status(env):
    return json.loads(cs(env, "status", "--json").stdout)


def stored_bytes(report):
    return sum(space["stored_bytes"] for space in report.get("store_space", []))


def compacted_file_bytes(env):
    cs(env, "compact")
    return status(env)["store_bytes"]


def change_files(root: Path, share: float, seed: int = 7):
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES)
    chosen = random.Random(seed).sample(files, max(1, int(len(files) * share)))
    for path in chosen:
        comment = "#" if path.suffix == ".py" else "//"
        with open(path, "a", encoding="utf-8", errors="replace") as out:
            out.write(f"\n{comment} changed in this worktree\n")
    return len(chosen), len(files)


def timed_index(env, root: Path):
    start = time.perf_counter()
    cs(env, "index", str(root))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changed", type=float, default=0.01, help="share of files changed in B")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    subprocess.run([sys.executable, str(REPO / "benches" / "corpus.py")], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="codesage-worktree."))
    env = dict(os.environ, CODESAGE_SOCKET=str(work / "s.sock"),
               CODESAGE_DATA_DIR=str(work / "data"), CODESAGE_CONFIG=str(work / "none.toml"),
               CODESAGE_ENV_FILE=str(work / "none.env"),
               CODESAGE_DAEMON_BIN=str(BIN / "codesaged"), RUST_LOG="warn")
    try:
        first, second = work / "a", work / "b"
        shutil.copytree(CORPUS, first, symlinks=True)
        cs(env, "status", check=False)  # starts nothing; the index below starts the daemon
        first_secs = timed_index(env, first)
        time.sleep(SPACE_MAX_AGE)
        after_first = status(env)
        first_stored = stored_bytes(after_first)
        first_file = compacted_file_bytes(env)

        shutil.copytree(first, second, symlinks=True)
        changed, files = change_files(second, args.changed)
        second_secs = timed_index(env, second)
        time.sleep(SPACE_MAX_AGE)
        second_stored = stored_bytes(status(env))
        second_file = compacted_file_bytes(env)

        forget = cs(env, "forget", str(second), check=False)
        time.sleep(SPACE_MAX_AGE)
        forgot_stored = stored_bytes(status(env))
        forgot_file = compacted_file_bytes(env)
        source = sum(root["bytes"] for root in after_first["roots"])

        mib = lambda b: f"{b / 1048576:.1f}"
        rows = [
            ("source indexed (A)", f"{mib(source)} MiB, {files:,} source files", ""),
            ("first index (A): wall", f"{first_secs:.1f} s", "100%"),
            ("first index: store growth, stored bytes", f"{mib(first_stored)} MiB", "100%"),
            ("first index: store file after compact", f"{mib(first_file)} MiB", "100%"),
            (f"second worktree (B, {changed} files changed): wall", f"{second_secs:.1f} s",
             f"{100 * second_secs / first_secs:.1f}%"),
            ("second worktree: store growth, stored bytes",
             f"{mib(second_stored - first_stored)} MiB",
             f"{100 * (second_stored - first_stored) / first_stored:.1f}%"),
            ("second worktree: store file growth after compact",
             f"{mib(second_file - first_file)} MiB",
             f"{100 * (second_file - first_file) / first_file:.1f}%"),
            ("`codesage forget B`: stored bytes given back",
             f"{mib(second_stored - forgot_stored)} MiB" if forget.returncode == 0
             else f"failed: {forget.stderr.strip()}",
             f"left {mib(forgot_stored)} MiB (A alone: {mib(first_stored)})"),
            ("after forget: store file after compact", f"{mib(forgot_file)} MiB", ""),
        ]
        if args.markdown:
            print("| measure | value | share of the first index |")
            print("|---|---:|---:|")
            for row in rows:
                print(f"| {row[0]} | {row[1]} | {row[2]} |")
        else:
            for row in rows:
                print(f"{row[0]:<55} {row[1]:>24} {row[2]}")
    finally:
        cs(env, "stop", check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
