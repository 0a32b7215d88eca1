#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing (cargo-fuzz, libFuzzer) of each target
# in fuzz/fuzz_targets for FUZZ_SECONDS (60) seconds. Not run in CI.
#
#   make fuzz                                  # every target, 60 s each
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=admission
#
# With a nightly toolchain (installed with rustup when missing, if it can be)
# the targets are built with AddressSanitizer, cargo-fuzz's default. Without
# one they are built by the default toolchain with `--sanitizer none`:
# libFuzzer and its coverage instrumentation work on stable, only the
# sanitizers need nightly. New inputs go to fuzz/corpus/TARGET (kept between
# runs, not committed), seeded from fuzz/seeds/TARGET; a crashing input is
# written to fuzz/artifacts/TARGET/ and the run says how to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is not installed; installing it: cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked
fi

toolchain=()
sanitizer=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
elif echo "fuzz: no nightly toolchain; trying: rustup toolchain install nightly --profile minimal" &&
  rustup toolchain install nightly --profile minimal; then
  toolchain=(+nightly)
else
  sanitizer=(--sanitizer none)
fi
if [ ${#toolchain[@]} -gt 0 ]; then
  echo "fuzz: $(rustc +nightly --version), with AddressSanitizer"
else
  echo "fuzz: no nightly toolchain; $(rustc --version) with --sanitizer none (coverage-guided, no sanitizer)"
fi

# One build for every target, so no run spends its time compiling.
cargo "${toolchain[@]}" fuzz build "${sanitizer[@]}"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  seeds=("fuzz/seeds/$t")
  if [ "$t" = admission ]; then
    mkdir -p fuzz/corpus/admission-examples
    cp examples/*.json fuzz/corpus/admission-examples/
    seeds+=(fuzz/corpus/admission-examples)
  fi
  max_len=4096
  [ "$t" = admission ] && max_len=65536
  echo "fuzz: $t for ${seconds}s"
  if ! cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -dict="fuzz/dicts/$t.dict" \
    -print_final_stats=1; then
    failed+=("$t")
    echo "fuzz: $t FAILED; replay the input with:" \
      "cargo ${toolchain[*]} fuzz run ${sanitizer[*]} $t fuzz/artifacts/$t/<file>"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${targets[*]}: no failure in ${seconds}s each"
