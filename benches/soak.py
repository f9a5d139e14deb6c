#!/usr/bin/env python3
"""Soak: a long run of tool calls through long-lived shim sessions while the index churns; prints the trend.

    python3 benches/soak.py [--calls 1000000] [--clients 8] [--tree-mib 20] [--window-calls 10000]
                            [--duration-min M] [--warmup-windows 2] [--no-reconnect]
                            [--change-interval-ms 50] [--no-churn]

The same set-up as `load.py` (whose helpers it imports): one `codesaged` with a temporary
data directory and socket, a tree copied from benches/.corpus, release binaries in
target/release, and clients that are real `codesage mcp` shims speaking JSON-RPC over their
stdin/stdout, drawing calls from load.py's mix (exact search, symbols, outline, read,
references, semantic search). Every client's session stays open for the whole run (long
sessions must not grow the daemon); one more client closes its shim and starts a new one at
every window, so connection set-up and tear-down are soaked too (`--no-reconnect` drops it).

Meanwhile a writer churns the tree at a steady state, so a rising index cannot pass for a
leak: it adds, rewrites and deletes its own files (at most 100 of them at a time), and edits
real source files (appends a function, restores the original on the next touch). The number
of indexed files and the indexed bytes stay within a narrow band for the whole run.
`--no-churn` leaves the tree alone, to tell what the calls do from what the churn does.

The run is cut into windows of `--window-calls` calls. After each window: the daemon's RSS and
its file pages, threads (/proc/<pid>/status), open descriptors (/proc/<pid>/fd), CPU time, and, from
`codesage status --json`, the allocator's counted heap, the store file's size and the
indexed file count; and the p50/p99 latency of that window's calls. One line per window.

At the end, for RSS, RSS without its file pages (the daemon's own code and tables, which
parsing and answering page in and a quiet spell drops: the rest is what the allocator holds),
heap, descriptors, threads and p50 latency, over the windows after the
first `--warmup-windows` (caches filling, the semantic index built, allocator arenas
settling): the least-squares slope per 100,000 calls, the same over the second half of those
windows alone (a rise that is settling flattens there, a leak keeps its slope), the mean of
the first and last third and their relative change, and a verdict. A metric is "growing"
when the rise the fitted line predicts over the measured span exceeds its threshold, which
is the largest of:

* a share of the metric's mean: 5% for RSS and heap, 25% for p50 latency. For memory, 5% is
  above what the allocator's reserve moves by on its own (mimalloc takes memory in segments
  of several MiB, and every new worker thread gets its own pages: a step of ~10 MiB when the
  thread count goes up by a few), and well under what a leak that matters would do in a
  run of the default length: a daemon that grows 5% per 10^6 calls grows by half in 10^7. For
  latency, 25% because the figures are taken on a shared machine where other work (a
  compiler) changes the p50 by tens of percent from one window to the next; a drift that is
  a defect (segments never merged, a list scanned per call that keeps growing) is a steady
  ramp that crosses 25% in a long run.
* an absolute floor: 4 MiB RSS, 1 MiB heap, 3 descriptors, `--clients` + 2 threads, 1 ms
  p50. Descriptors move with the connections open at the moment of the sample (the
  reconnecting client's session, a status request still closing), so a rise of up to 3 is
  not a leak; a real descriptor leak grows with every call or every session, i.e. by
  thousands. Threads: the daemon's pools start threads on demand up to the number of calls
  in flight (one per client, plus the reconnecting client and a status request) and retire
  them when idle, so the count steps up once when the calls first overlap that much; a
  thread leak keeps climbing past that (and the idle row after the run shows what retires).
* twice the residual standard deviation around the fitted line: a rise the size of the
  samples' own scatter is not distinguishable from noise. A steady ramp has small residuals,
  so this term does not hide one.

The per-window figures, the slopes and the verdicts end in a markdown summary on stdout.
Exit status 1 on any error (a call answered with an error other than "file gone", a shim
that exited, a call with no answer in `--call-timeout` seconds), any metric "growing", or
fewer than 3 windows after the warm-up (no verdict).
With `--duration-min` the run stops after that many minutes even if fewer than `--calls`
calls were made; the output says so, with the number of calls actually made.
"""

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import BIN, Client, build_tree, call_mix, percentile, proc_figures  # noqa: E402

MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# metric: (label, unit, share of the mean, absolute floor) — see the docstring.
THRESHOLDS = {
    "rss": ("RSS", "MiB", 0.05, 4.0),
    # Resident memory less the pages of files (the daemon's own code and grammar tables,
    # paged in by whatever parsing and answering touch first, and dropped after a quiet
    # spell): what the allocator holds, the part a leak or fragmentation grows.
    "rss_anon": ("RSS without file pages", "MiB", 0.05, 4.0),
    "heap": ("counted heap", "MiB", 0.05, 1.0),
    "fds": ("open descriptors", "", 0.0, 3.0),
    "threads": ("threads", "", 0.0, None),  # --clients + 2, set in verdicts()
    "p50": ("p50 latency", "ms", 0.25, 1.0),
}


def proc_extra(pid: int):
    """Threads, CPU seconds (user + system) and resident file pages (bytes) of the daemon."""
    threads = 0
    file_pages = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("RssFile:"):
                file_pages = int(line.split()[1]) * 1024
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return threads, cpu, file_pages


async def status_json(env):
    status = await asyncio.create_subprocess_exec(
        str(BIN / "codesage"), "status", "--json", env=env, stdout=asyncio.subprocess.PIPE
    )
    return json.loads((await status.communicate())[0])


async def churn(tree: Path, candidates, stop: asyncio.Event, counter, interval: float):
    """Steady-state changes: the tree's size stays in a narrow band however long the run."""
    rng = random.Random(7)
    own = []
    originals = {}
    serial = 0
    while not stop.is_set():
        serial += 1
        kind = rng.random()
        if kind < 0.4:
            if own and (len(own) >= 100 or rng.random() < 0.5):
                os.unlink(own.pop(rng.randrange(len(own))))
            else:
                path = tree / f"soak_churn_{serial}.py"
                path.write_text(f"def churn_{serial}(x):\n    return x + {serial}\n")
                own.append(path)
        elif kind < 0.6 and own:
            path = rng.choice(own)
            path.write_text(f"def churn_{serial}(x, y):\n    return x * y + {serial}\n")
        else:
            path = tree / rng.choice(candidates)
            if path in originals:
                path.write_bytes(originals.pop(path))
            else:
                originals[path] = path.read_bytes()
                if path.suffix == ".rs":
                    extra = f"\nfn soak_edit_{serial}() -> u64 {{\n    {serial}\n}}\n"
                else:
                    extra = f"\ndef soak_edit_{serial}():\n    return {serial}\n"
                path.write_bytes(originals[path] + extra.encode())
        counter[0] += 1
        await asyncio.sleep(interval)


def fit(xs, ys):
    """Least squares: slope, intercept, residual standard deviation."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    intercept = my - slope * mx
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys)]
    sd = math.sqrt(sum(r * r for r in residuals) / (n - 2)) if n > 2 else 0.0
    return slope, intercept, sd


class Soak:
    def __init__(self, args, env, tree, files, names, log):
        self.args = args
        self.env = env
        self.tree = tree
        self.files = files
        self.names = names
        self.log = log
        self.issued = 0
        self.done = 0
        self.stopping = False
        self.cut_short = False
        self.deadline = time.monotonic() + args.duration_min * 60 if args.duration_min else None
        self.window_no = 1
        self.window = self.fresh_window()
        self.closed = asyncio.Queue()
        self.errors = 0
        self.vanished = 0
        self.shim_restarts = 0
        self.sessions = 0
        self.examples = []

    @staticmethod
    def fresh_window():
        return {"latencies": [], "errors": 0, "vanished": 0}

    def claim(self):
        if self.stopping:
            return False
        if self.issued >= self.args.calls:
            self.stopping = True
            return False
        if self.deadline and time.monotonic() >= self.deadline:
            self.stopping = self.cut_short = True
            return False
        self.issued += 1
        return True

    def record(self, elapsed, failed, vanished, message):
        window = self.window
        window["latencies"].append(elapsed)
        if vanished:
            window["vanished"] += 1
            self.vanished += 1
        elif failed:
            window["errors"] += 1
            self.errors += 1
            if len(self.examples) < 5:
                self.examples.append(message)
        self.done += 1
        if len(window["latencies"]) >= self.args.window_calls:
            self.close_window()

    def close_window(self):
        window = self.window
        window["number"] = self.window_no
        window["calls_end"] = self.done
        self.closed.put_nowait(window)
        self.window_no += 1
        self.window = self.fresh_window()

    async def new_session(self, number, label):
        client = Client(self.env, number, label=label, stderr=self.log)
        await client.start()
        self.sessions += 1
        return client

    async def one_call(self, client, rng):
        """One call of the mix; returns False when the shim has to be replaced."""
        tool, arguments = call_mix(self.tree, self.files, self.names, rng)
        started = time.perf_counter()
        try:
            reply = await asyncio.wait_for(
                client.request("tools/call", {"name": tool, "arguments": arguments}), self.args.call_timeout
            )
        except (asyncio.TimeoutError, RuntimeError, json.JSONDecodeError) as error:
            kind = "no answer" if isinstance(error, asyncio.TimeoutError) else "shim failed"
            self.record(time.perf_counter() - started, True, False, f"{tool}: {kind}: {str(error)[:300]}")
            return False
        elapsed = time.perf_counter() - started
        failed = "error" in reply or reply.get("result", {}).get("isError")
        message = json.dumps(reply)[:300] if failed else ""
        # A file the writer just deleted is a correct "not found", not a failure (as in load.py).
        vanished = failed and ("not found" in message or "does not exist" in message or "No such file" in message)
        self.record(elapsed, failed, vanished, f"{tool}: {message}")
        return True

    async def replace(self, client, number, label):
        client.proc.kill()
        await client.proc.wait()
        self.shim_restarts += 1
        return await self.new_session(number, label)

    async def long_session(self, client, number):
        """One session for the whole run (replaced only if its shim fails, which counts as an error)."""
        rng = random.Random(number)
        while self.claim():
            if not await self.one_call(client, rng):
                client = await self.replace(client, number, "soak")
        return client

    async def reconnecting(self, number):
        """A client that closes its shim and starts a new one at every window."""
        rng = random.Random(number)
        while not self.stopping:
            client = await self.new_session(number, "soak-reconnect")
            window = self.window_no
            while self.window_no == window and self.claim():
                if not await self.one_call(client, rng):
                    break
            client.proc.stdin.close()
            try:
                await asyncio.wait_for(client.proc.wait(), 30)
            except asyncio.TimeoutError:
                client.proc.kill()
                await client.proc.wait()


async def sample(pid, env):
    rss, fds = proc_figures(pid)
    threads, cpu, file_pages = proc_extra(pid)
    report = await status_json(env)
    heap = (report.get("memory") or {}).get("heap_bytes")
    files = sum(root.get("files", 0) for root in report.get("roots", []))
    return {
        "time": time.monotonic(),
        "rss": rss / MIB,
        "file_pages": file_pages / MIB,
        "rss_anon": (rss - file_pages) / MIB,
        "fds": fds,
        "threads": threads,
        "cpu": cpu,
        "heap": heap / MIB if heap else None,
        "store": report.get("store_bytes", 0) / MIB,
        "files": files,
        "connections": report.get("connections_active"),
    }


def line(row):
    heap = f"{row['heap']:7.1f}" if row["heap"] is not None else "      -"
    return (
        f"window {row['number']:4d}  calls {row['calls_end']:8d}  {row['minutes']:6.1f} min  "
        f"p50 {row['p50']:7.1f} ms  p99 {row['p99']:7.1f} ms  RSS {row['rss']:7.1f} MiB  "
        f"file pages {row['file_pages']:5.1f} MiB  heap {heap} MiB  "
        f"fds {row['fds']:4d}  threads {row['threads']:3d}  cpu {row['cpu_per_call']:5.1f} ms/call  "
        f"store {row['store']:6.1f} MiB  files {row['files']:6d}  errors {row['errors']}"
    )


async def sampler(soak, pid, env, started, rows, start_sample):
    previous = start_sample
    while True:
        window = await soak.closed.get()
        if window is None:
            return
        figures = await sample(pid, env)
        lat = window["latencies"]
        calls_before = rows[-1]["calls_end"] if rows else 0
        row = dict(
            figures,
            number=window["number"],
            calls=len(lat),
            calls_end=window["calls_end"],
            minutes=(figures["time"] - started) / 60,
            p50=1000 * percentile(lat, 0.5) if lat else 0.0,
            p99=1000 * percentile(lat, 0.99) if lat else 0.0,
            errors=window["errors"],
            vanished=window["vanished"],
            cpu_per_call=1000 * (figures["cpu"] - previous["cpu"]) / max(1, window["calls_end"] - calls_before),
        )
        previous = figures
        rows.append(row)
        print(line(row), flush=True)


def verdicts(rows, warmup, min_calls, clients):
    """(table rows, any growing, the windows fitted)."""
    fitted = [r for r in rows[warmup:] if r["calls"] >= min_calls]
    results = []
    growing = False
    if len(fitted) < 3:
        return results, growing, fitted
    xs = [r["calls_end"] / 100_000 for r in fitted]
    span = xs[-1] - xs[0]
    third = max(1, len(fitted) // 3)
    for key, (label, unit, share, floor) in THRESHOLDS.items():
        if key == "threads":
            floor = float(clients + 2)
        ys = [r[key] for r in fitted]
        if any(y is None for y in ys):
            continue
        slope, _, sd = fit(xs, ys)
        # The slope over the second half alone: a rise that is settling (caches filling up to
        # their bound) flattens there, a leak keeps its slope.
        half = len(xs) // 2
        late = fit(xs[half:], ys[half:])[0] if len(xs) - half >= 3 else float("nan")
        mean = statistics.fmean(ys)
        first, last = statistics.fmean(ys[:third]), statistics.fmean(ys[-third:])
        change = (last - first) / first if first else 0.0
        rise = slope * span
        threshold = max(share * mean, floor, 2 * sd)
        verdict = "growing" if rise > threshold else "flat"
        growing |= verdict == "growing"
        results.append(
            dict(label=label, unit=unit, mean=mean, first=first, last=last, change=change,
                 slope=slope, late=late, rise=rise, threshold=threshold, sd=sd, verdict=verdict)
        )
    return results, growing, fitted


def condensed(rows, count):
    if len(rows) <= count:
        return rows
    step = (len(rows) - 1) / (count - 1)
    picks = sorted({round(i * step) for i in range(count)})
    return [rows[i] for i in picks]


async def main_async(args):
    base = Path(tempfile.mkdtemp(prefix="codesage-soak."))
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
        # The clients, the reconnecting one, a status request, one spare.
        CODESAGE_SERVER__MAX_CONNECTIONS=str(max(64, args.clients + 3)),
        RUST_LOG="warn",
    )
    log_path = base / "shims.log"
    log = open(log_path, "ab")
    index = await asyncio.create_subprocess_exec(
        str(BIN / "codesage"), "index", str(tree), env=env, stdout=asyncio.subprocess.DEVNULL
    )
    await index.wait()
    pid = (await status_json(env))["pid"]

    def servable(paths):
        return [str(p.relative_to(tree)) for p in paths if p.stat().st_size <= 1024 * 1024]

    files = servable(tree.rglob("*.rs"))[:2000] + servable(tree.rglob("*.py"))[:2000]
    names = ["new", "parse", "Error", "from_str", "deserialize", "visit_map", "__init__", "get", "run", "build"]
    small = [f for f in files if (tree / f).stat().st_size <= 64 * 1024]
    candidates = random.Random(11).sample(small, min(200, len(small)))

    soak = Soak(args, env, tree, files, names, log)
    clients = [await soak.new_session(n, "soak") for n in range(args.clients)]
    start_sample = await sample(pid, env)
    started = start_sample["time"]
    print(
        f"soak: daemon pid {pid}, {size / MIB:.1f} MiB tree, {args.clients} long sessions"
        f"{' + 1 reconnecting every window' if args.reconnect else ''}, target {args.calls} calls"
        f"{f', at most {args.duration_min:g} min' if args.duration_min else ''}, windows of {args.window_calls} calls",
        flush=True,
    )
    heap = "-" if start_sample["heap"] is None else f"{start_sample['heap']:.1f}"
    print(
        f"start: RSS {start_sample['rss']:.1f} MiB, heap {heap} MiB, fds {start_sample['fds']}, "
        f"threads {start_sample['threads']}, files {start_sample['files']}",
        flush=True,
    )

    rows = []
    stop = asyncio.Event()
    changes = [0]
    writer = asyncio.create_task(
        churn(tree, candidates, stop, changes, args.change_interval_ms / 1000) if args.churn else stop.wait()
    )
    watcher = asyncio.create_task(sampler(soak, pid, env, started, rows, start_sample))
    workers = [soak.long_session(c, n) for n, c in enumerate(clients)]
    if args.reconnect:
        workers.append(soak.reconnecting(args.clients))
    results = await asyncio.gather(*workers)
    clients = results[: args.clients]
    if soak.window["latencies"]:
        soak.close_window()
    soak.closed.put_nowait(None)
    await watcher
    wall = time.monotonic() - started
    stop.set()
    await writer
    # Idle, every long session still open: what the daemon keeps once the calls stop.
    await asyncio.sleep(10)
    idle = await sample(pid, env)

    await asyncio.gather(*(client.close() for client in clients))
    await asyncio.sleep(2)
    closed = await sample(pid, env)
    stop_daemon = await asyncio.create_subprocess_exec(
        str(BIN / "codesage"), "stop", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    await stop_daemon.wait()
    log.close()
    shim_log = log_path.read_text(errors="replace").splitlines()
    shutil.rmtree(base, ignore_errors=True)

    min_calls = args.window_calls // 4
    table, growing, fitted = verdicts(rows, args.warmup_windows, min_calls, args.clients)
    made = soak.done
    print()
    print("## Soak summary\n")
    cut = ""
    if soak.cut_short:
        cut = (f" **Cut short** by `--duration-min {args.duration_min:g}`: {made:,} of the {args.calls:,} calls "
               f"asked for ({100 * made / args.calls:.1f}%).")
    print(
        f"{made:,} calls in {wall / 60:.1f} min ({made / wall:.0f} calls/s) from {args.clients} shim sessions open "
        f"for the whole run{' and 1 reconnecting every window' if args.reconnect else ''} "
        f"({soak.sessions} sessions started in all, {soak.shim_restarts} replaced after a failure), on "
        f"{size / MIB:.1f} MiB, {changes[0]:,} file changes meanwhile; {soak.errors} errors, "
        f"{soak.vanished} answers \"file gone\".{cut}\n"
    )
    print("| window | calls so far | min | p50 ms | p99 ms | RSS MiB | of it file pages MiB | heap MiB | fds | threads | CPU ms/call | store MiB | files |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    s = start_sample
    heap = "" if s["heap"] is None else f"{s['heap']:.1f}"
    print(f"| start | 0 | 0 | | | {s['rss']:.1f} | {s['file_pages']:.1f} | {heap} | {s['fds']} | {s['threads']} | | {s['store']:.1f} | {s['files']} |")
    for r in condensed(rows, args.table_rows):
        heap = "" if r["heap"] is None else f"{r['heap']:.1f}"
        print(f"| {r['number']} | {r['calls_end']:,} | {r['minutes']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | "
              f"{r['rss']:.1f} | {r['file_pages']:.1f} | {heap} | {r['fds']} | {r['threads']} | {r['cpu_per_call']:.1f} | "
              f"{r['store']:.1f} | {r['files']} |")
    for label, s in (("idle 10 s after the last call", idle), ("sessions closed", closed)):
        heap = "" if s["heap"] is None else f"{s['heap']:.1f}"
        print(f"| {label} | | | | | {s['rss']:.1f} | {s['file_pages']:.1f} | {heap} | {s['fds']} | {s['threads']} | | {s['store']:.1f} | {s['files']} |")
    print()
    if len(fitted) < 3:
        print(f"Too few windows after the warm-up ({len(fitted)}) to fit a trend: no verdict.")
    else:
        print(f"Trend over windows {fitted[0]['number']}–{fitted[-1]['number']} "
              f"({fitted[0]['calls_end']:,}–{fitted[-1]['calls_end']:,} calls; the first {args.warmup_windows} "
              f"windows are warm-up): least-squares slope per 100,000 calls, the means of the first and last "
              f"third, the slope over the last half of these windows alone, and the rise the fitted line predicts over the span against the threshold "
              f"(max of a share of the mean, a floor, twice the residual SD; see the script).\n")
        print("| metric | first third | last third | change | slope per 100k calls | same, last half only | "
              "fitted rise | threshold | verdict |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for t in table:
            unit = f" {t['unit']}" if t["unit"] else ""
            late = "n/a" if math.isnan(t["late"]) else f"{t['late']:+.2f}{unit}"
            print(f"| {t['label']} | {t['first']:.1f}{unit} | {t['last']:.1f}{unit} | {100 * t['change']:+.1f}% | "
                  f"{t['slope']:+.2f}{unit} | {late} | {t['rise']:+.1f}{unit} | {t['threshold']:.1f}{unit} | {t['verdict']} |")
        print()
    overall = "growing" if growing else ("flat" if len(fitted) >= 3 else "no verdict")
    print(f"Verdict: **{overall}**"
          f"{' (' + ', '.join(t['label'] for t in table if t['verdict'] == 'growing') + ')' if growing else ''}; "
          f"{soak.errors} errors.{' Run cut short: ' + f'{made:,} of {args.calls:,} calls.' if soak.cut_short else ''}")
    for example in soak.examples:
        print(f"\n- error: {example}")
    if shim_log:
        print(f"\nShim stderr: {len(shim_log)} lines; last: {shim_log[-1][:300]}")
    return 0 if soak.errors == 0 and not growing and len(fitted) >= 3 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="total calls (default 1,000,000)")
    parser.add_argument("--clients", type=int, default=8, help="long-lived shim sessions")
    parser.add_argument("--tree-mib", type=int, default=20)
    parser.add_argument("--window-calls", type=int, default=10_000, help="calls per sample window")
    parser.add_argument("--duration-min", type=float, default=None, help="stop after this many minutes")
    parser.add_argument("--warmup-windows", type=int, default=2, help="windows left out of the trend")
    parser.add_argument("--change-interval-ms", type=float, default=50, help="pause between file changes")
    parser.add_argument("--no-churn", dest="churn", action="store_false",
                        help="no file changes (to tell what the calls alone do from what the churn does)")
    parser.add_argument("--call-timeout", type=float, default=120, help="seconds before a call counts as lost")
    parser.add_argument("--table-rows", type=int, default=14, help="windows in the markdown table")
    parser.add_argument("--no-reconnect", dest="reconnect", action="store_false",
                        help="no client that reconnects every window")
    args = parser.parse_args()
    if not (BIN / "codesaged").exists():
        sys.exit("build the release binaries first: cargo build --release -p codesage -p codesaged")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
