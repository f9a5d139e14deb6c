#!/usr/bin/env python3
"""Latency of the change tools on the corpus: a 20-file change in a real git repository.

    python3 benches/review.py [--files 20] [--runs 20] [--markdown]

A copy of benches/.corpus becomes a git repository (one commit, outside the timings), is
indexed through the auto-started daemon (release binaries in target/release), and 20 of its
Python files get a new function each (an uncommitted change). Then `review_changes`,
`changed_symbols` and `affected_callers` are each asked `--runs` times through
`codesage tool` (the control channel; the same query an MCP client's call runs), after one
untimed call (the review's first call detects the root's clones; it is timed apart).
Reported: p50/p95 per tool and the first review's time.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target" / "release"
CORPUS = REPO / "benches" / ".corpus"


def run(args, env, cwd=None, check=True):
    return subprocess.run(args, env=env, cwd=cwd, check=check, capture_output=True, text=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    subprocess.run([sys.executable, str(REPO / "benches" / "corpus.py")], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="codesage-review."))
    env = dict(os.environ, CODESAGE_SOCKET=str(work / "s.sock"),
               CODESAGE_DATA_DIR=str(work / "data"), CODESAGE_CONFIG=str(work / "none.toml"),
               CODESAGE_ENV_FILE=str(work / "none.env"),
               CODESAGE_DAEMON_BIN=str(BIN / "codesaged"), RUST_LOG="warn",
               GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    cs = lambda *a, **k: run([str(BIN / "codesage"), *a], env, **k)
    try:
        root = work / "repo"
        shutil.copytree(CORPUS, root, symlinks=True)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
               "-c", "init.defaultBranch=main", "-c", "core.autocrlf=false"]
        run(git + ["init", "-q"], env, cwd=root)
        run(git + ["add", "-A", "-f", "."], env, cwd=root)
        run(git + ["commit", "-q", "-m", "corpus", "--no-verify"], env, cwd=root)
        cs("index", str(root))
        python = sorted(p for p in root.rglob("*.py") if p.is_file())
        chosen = random.Random(11).sample(python, args.files)
        for number, path in enumerate(chosen):
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"\n\ndef review_bench_added_{number}(value):\n"
                          f"    if value:\n        return value + {number}\n    return None\n")
        codebase = str(root)
        timings = {}
        first_review = None
        sample = {}
        for tool in ("review_changes", "changed_symbols", "affected_callers"):
            arguments = json.dumps({"codebase_path": codebase})
            start = time.perf_counter()
            answer = cs("tool", tool, arguments)
            if tool == "review_changes":
                first_review = time.perf_counter() - start
            sample[tool] = json.loads(answer.stdout)
            runs = []
            for _ in range(args.runs):
                start = time.perf_counter()
                cs("tool", tool, arguments)
                runs.append(time.perf_counter() - start)
            runs.sort()
            timings[tool] = (statistics.median(runs), runs[int(len(runs) * 0.95) - 1])
        review = sample["review_changes"]
        changed = sample["changed_symbols"]
        rows = [(tool, f"{p50 * 1000:.0f}", f"{p95 * 1000:.0f}") for tool, (p50, p95) in timings.items()]
        summary = (f"{len(changed.get('files', []))} files changed, "
                   f"{changed.get('total', 0)} symbols changed; review: "
                   f"{review.get('total', 0)} findings {review.get('by_category', {})}; "
                   f"first review (detects the root's clones) {first_review:.2f} s")
        if args.markdown:
            print("| tool (20-file change, whole corpus) | p50 ms | p95 ms |")
            print("|---|---:|---:|")
            for row in rows:
                print(f"| `{row[0]}` | {row[1]} | {row[2]} |")
            print(f"\n{summary}")
        else:
            for row in rows:
                print(f"{row[0]:<20} p50 {row[1]:>6} ms  p95 {row[2]:>6} ms")
            print(summary)
    finally:
        cs("stop", check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
