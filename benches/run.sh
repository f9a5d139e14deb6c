#!/usr/bin/env bash
# Runs the corpus benchmarks and rewrites their sections of BENCHMARKS.md.
#
#   benches/run.sh [benchmark ...]     (default: all)
#
# Assembles the corpus from the registries (benches/corpus.py), installs ripgrep from
# crates.io into benches/.cache (the baseline every search figure is compared with), builds
# release binaries and runs the driver.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 benches/corpus.py >/dev/null

if [ ! -x benches/.cache/bin/rg ]; then
  echo "==> installing ripgrep into benches/.cache"
  cargo install --quiet --locked ripgrep --root benches/.cache
fi

cargo build --quiet --release -p codesage -p codesaged -p codesage-benches
benchmarks=("$@")
if [ ${#benchmarks[@]} -eq 0 ]; then
  benchmarks=(foundation freshness search)
fi
for benchmark in "${benchmarks[@]}"; do
  echo "==> $benchmark"
  target/release/corpus-bench "$benchmark"
done
