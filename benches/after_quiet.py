#!/usr/bin/env python3
"""The first questions after a quiet spell, with the daemon's own pages handed back or kept.

    python3 benches/after_quiet.py [--rounds 3] [--quiet-secs 10] [--calls 3]

After `memory.idle_release_secs` without a question the daemon empties the content cache and,
unless `memory.release_program_pages` is off, drops the resident pages of its own code and
grammar tables (read back from the page cache by the next question). This measures what the
second part costs the next questions: one store of the corpus (benches/.corpus), indexed once;
then, in rounds that alternate the order of the two settings, a daemon started on that store
with the setting on or off, every question asked three times to warm it, and for each
question in turn: a quiet spell (`--quiet-secs`, the idle release set to it), then the same
question `--calls` times in a row, each timed through the real `codesage tool` command (process
start included, the same in both arms). Prints a markdown table: per question and setting, the
median of the first call after the quiet and of the later calls, over the rounds; and the
daemon's resident file pages before and after a quiet spell.

Binaries: CODESAGE_BENCH_BIN or target/release.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".corpus"


def questions(corpus: str):
    """(label, tool, arguments) of the questions timed."""
    search = lambda pattern: {"codebase_path": corpus, "pattern": pattern}  # noqa: E731
    return [
        ("search `spawn_blocking`", "search_codebase", search("spawn_blocking")),
        ("search `fn \\w+_unchecked\\(`", "search_codebase", search(r"fn \w+_unchecked\(")),
        ("search `class \\w+Error\\b`", "search_codebase", search(r"class \w+Error\b")),
        ("find_symbol `QuerySet`", "find_symbol", {"codebase_path": corpus, "name": "QuerySet"}),
        ("get_file_structure (Rust)", "get_file_structure",
         {"codebase_path": corpus, "file_path": "rust/tokio/src/runtime/builder.rs"}),
    ]


class Daemon:
    """`codesage` commands against one data directory and socket."""

    def __init__(self, work: Path, bin_dir: Path, quiet_secs: int):
        self.bin = bin_dir
        self.env = dict(os.environ)
        self.env.update({
            "CODESAGE_SOCKET": str(work / "s.sock"),
            "CODESAGE_DATA_DIR": str(work / "data"),
            "CODESAGE_CONFIG": str(work / "none.toml"),
            "CODESAGE_ENV_FILE": str(work / "none.env"),
            "CODESAGE_DAEMON_BIN": str(bin_dir / "codesaged"),
            "CODESAGE_MEMORY__IDLE_RELEASE_SECS": str(quiet_secs),
            "RUST_LOG": "warn",
        })

    def run(self, *args, check=True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(self.bin / "codesage"), *args], env=self.env,
                              capture_output=True, text=True)
        if check and done.returncode != 0:
            sys.exit(f"codesage {' '.join(args[:2])} failed: {done.stderr.strip()[:500]}")
        return done

    def start(self, release_pages: bool, corpus: str):
        """A daemon with this setting, `corpus` indexed (the first time) or reconciled."""
        self.run("stop", check=False)
        self.env["CODESAGE_MEMORY__RELEASE_PROGRAM_PAGES"] = "true" if release_pages else "false"
        self.run("index", corpus)

    def file_pages_mib(self) -> float:
        status = json.loads(self.run("status", "--json").stdout)
        for part in status["memory"]["parts"]:
            if part["name"].startswith("program code and tables"):
                return part["bytes"] / 2**20
        return float("nan")

    def timed(self, tool: str, arguments: dict) -> float:
        started = time.perf_counter()
        self.run("tool", tool, json.dumps(arguments))
        return (time.perf_counter() - started) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet-secs", type=int, default=10)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    subprocess.run([sys.executable, str(HERE / "corpus.py")], check=True, stdout=subprocess.DEVNULL)
    bin_dir = Path(os.environ.get("CODESAGE_BENCH_BIN", HERE.parent / "target" / "release"))
    corpus = str(CORPUS)
    asked = questions(corpus)
    # label -> arm -> list of per-round [first, later...]
    first = {label: {True: [], False: []} for label, _, _ in asked}
    later = {label: {True: [], False: []} for label, _, _ in asked}
    pages = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="codesage-after-quiet.") as work:
        daemon = Daemon(Path(work), bin_dir, args.quiet_secs)
        try:
            daemon.start(True, corpus)
            time.sleep(30)  # settling and compaction, so both arms read the same store
            for round_no in range(args.rounds):
                order = [True, False] if round_no % 2 == 0 else [False, True]
                for release in order:
                    daemon.start(release, corpus)
                    time.sleep(3)
                    for _, tool, arguments in asked:
                        for _ in range(3):
                            daemon.timed(tool, arguments)
                    before = daemon.file_pages_mib()
                    for label, tool, arguments in asked:
                        time.sleep(args.quiet_secs + 3)
                        times = [daemon.timed(tool, arguments) for _ in range(args.calls)]
                        first[label][release].append(times[0])
                        later[label][release].append(statistics.median(times[1:]))
                    time.sleep(args.quiet_secs + 3)
                    pages[release].append((before, daemon.file_pages_mib()))
                    print(f"round {round_no + 1} release_program_pages={release} done",
                          file=sys.stderr, flush=True)
        finally:
            daemon.run("stop", check=False)

    med = statistics.median
    print(f"{args.rounds} rounds, quiet spells of {args.quiet_secs} s, median over the rounds; "
          "times through `codesage tool` (process start included).\n")
    print("| question | first call after quiet, pages handed back ms | same, pages kept ms "
          "| ratio | later calls, handed back ms | later calls, kept ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, _, _ in asked:
        on, off = med(first[label][True]), med(first[label][False])
        print(f"| {label} | {on:.1f} | {off:.1f} | {on / off:.2f}× "
              f"| {med(later[label][True]):.1f} | {med(later[label][False]):.1f} |")
    for release in (True, False):
        befores = [b for b, _ in pages[release]]
        afters = [a for _, a in pages[release]]
        print(f"\nrelease_program_pages = {str(release).lower()}: resident file pages "
              f"{med(befores):.1f} MiB warm, {med(afters):.1f} MiB after a quiet spell "
              "(read by the status call itself, which maps some back)")


if __name__ == "__main__":
    main()
