#!/usr/bin/env bash
# Fuzzing, the long run: every fuzz target of the daemon (daemon/tests/fuzz/targets.rs) for a
# time budget each, printing per target its executions, what its inputs led to and any
# failure; exits non-zero if a target failed.
#
#   benches/fuzz.sh [proptest|libfuzzer|all] [seconds per target] [target ...]
#                   (default: all, 60 seconds, every target)
#
# proptest   The test suite's targets and structure-aware generators
#            (daemon/tests/fuzz/generators.rs) through `cargo test -p codesaged --test fuzz`,
#            with CODESAGE_FUZZ_SECONDS per target, one target per process. The daemon and
#            the shared crate are optimised (opt-level 3) but keep debug assertions and
#            overflow checks (the dev profile: a release build would hide overflows).
# libfuzzer  Coverage-guided: the harness in daemon/fuzz/ runs the same target functions
#            under libFuzzer. It is built on the stable toolchain with LLVM's
#            sanitizer-coverage instrumentation (the flags cargo-fuzz passes, without
#            `-Zsanitizer`, which needs nightly: memory errors are Rust's to prevent, the
#            targets look for panics, aborts, hangs and oversized allocations), plus debug
#            assertions and overflow checks, into target/fuzz/. Each target starts from 64
#            seeds written by the proptest generators and keeps its corpus in
#            target/fuzz/corpus/<target>; a crash leaves its input in
#            target/fuzz/artifacts/<target>/. The first build takes a while (every
#            dependency is instrumented).
#
# To run it beside other work, lower its priority: `nice -n 19 benches/fuzz.sh ...`. Started in
# a session of its own (`setsid`), it also gets a scheduling group of its own, where `nice` does
# not reach: `echo 19 > /proc/<its pid>/autogroup` then (Linux with autogroup scheduling).
#
# Keep every crash found as a named test in daemon/tests/fuzz/regressions.rs (its input in
# daemon/tests/fuzz/crashes/), after fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
seconds=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
all_targets=(hello mcp control tool_call regex extract symbols_decode segment_decode
  vector_decode store_records backup config)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
case "$mode" in proptest|libfuzzer|all) ;; *) echo "usage: $0 [proptest|libfuzzer|all] [seconds] [target ...]" >&2; exit 2 ;; esac

failed=0
summary=()

# The fuzz test binary, built once (dev profile, daemon optimised): later runs use it
# directly, so that sources edited meanwhile do not rebuild it between targets.
fuzz_tests=
build_fuzz_tests() {
  [ -z "$fuzz_tests" ] || return 0
  echo "==> building the fuzz tests (dev profile, daemon optimised)"
  fuzz_tests=$(cargo test --quiet -p codesaged --test fuzz \
    --config 'profile.dev.package.codesaged.opt-level=3' \
    --config 'profile.dev.package.codesage-shared.opt-level=3' \
    --no-run --message-format=json |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "fuzz" and m.get("executable"):
        print(m["executable"])')
}

# Runs the fuzz test binary as cargo would (from the daemon's directory).
fuzz_tests() {
  (cd daemon && "$fuzz_tests" "$@")
}

run_proptest() {
  build_fuzz_tests
  for target in "${targets[@]}"; do
    local log
    log=$(mktemp)
    if CODESAGE_FUZZ_SECONDS=$seconds fuzz_tests --exact "fuzz_$target" --nocapture \
        --test-threads=1 >"$log" 2>&1; then
      local line
      line=$(grep -oE "fuzz $target: [0-9]+ executions.*" "$log" | tail -1 || true)
      echo "proptest  ${line#fuzz }"
      summary+=("proptest  ${line#fuzz }")
    else
      failed=1
      echo "proptest  $target FAILED:"
      grep -E "^fuzz|panicked|saved|^input|exceeds" "$log" | cut -c1-4000
      summary+=("proptest  $target: FAILED")
    fi
    rm -f "$log"
  done
}

run_libfuzzer() {
  local triple
  triple=$(rustc -vV | sed -n 's/^host: //p')
  local dir=target/fuzz
  local binary=$dir/$triple/release/codesaged-fuzz
  # The same dependency versions as the workspace, plus libFuzzer's.
  cp Cargo.lock daemon/fuzz/Cargo.lock
  echo "==> building the libFuzzer harness (stable, sanitizer coverage) into $dir"
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    CARGO_TARGET_DIR=$dir cargo build --quiet --release --target "$triple" \
    --manifest-path daemon/fuzz/Cargo.toml
  echo "==> writing seed corpora from the generators"
  build_fuzz_tests
  CODESAGE_FUZZ_SEEDS="$PWD/$dir/seeds" fuzz_tests --exact write_seeds --ignored >/dev/null
  for target in "${targets[@]}"; do
    mkdir -p "$dir/corpus/$target" "$dir/artifacts/$target"
    local log
    log=$(mktemp)
    if CODESAGE_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -timeout=120 \
        -rss_limit_mb=4096 -max_len=262144 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$target/" \
        "$dir/corpus/$target" "$dir/seeds/$target" >"$log" 2>&1; then
      local runs coverage corpus
      runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
      coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
      corpus=$(ls "$dir/corpus/$target" | wc -l)
      echo "libfuzzer $target: $runs executions in $seconds s, no failure (coverage: $coverage edges, corpus: $corpus inputs)"
      summary+=("libfuzzer $target: $runs executions in $seconds s, no failure (coverage: $coverage edges, corpus: $corpus inputs)")
    else
      failed=1
      echo "libfuzzer $target FAILED:"
      grep -E "panicked|ERROR|SUMMARY|Test unit written|exceeds|deadly" "$log" | head -20
      summary+=("libfuzzer $target: FAILED (input in $dir/artifacts/$target/)")
    fi
    rm -f "$log"
  done
}

[ "$mode" = libfuzzer ] || run_proptest
[ "$mode" = proptest ] || run_libfuzzer

echo
echo "==> summary ($seconds s per target)"
printf '%s\n' "${summary[@]}"
exit $failed
