#!/usr/bin/env bash
# CI: every fuzz target (fuzz/fuzz_targets) for 60 s from its committed corpus; a crash, a hang
# (-timeout) or memory past -rss_limit_mb fails the stage. libFuzzer needs nightly flags: the
# stable toolchain is told to accept them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

cargo_fuzz_version=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
export RUSTC_BOOTSTRAP=1

# -a (debug assertions, hence overflow checks) must be given to build and run alike, or run
# rebuilds everything.
cargo fuzz build -a
echo "== fuzz build done in $((SECONDS - start)) s"

# New inputs go to a scratch corpus; the committed seeds are only read. Two targets at a time,
# one per core; each one's output is printed whole when it ends.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fuzz_one() {
  local target=$1
  mkdir -p "$work/$target"
  if cargo fuzz run -a "$target" "$work/$target" "fuzz/corpus/$target" -- \
    -max_total_time=60 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$work/$target.log" 2>&1; then
    echo "== fuzz $target: no crash"
  else
    echo "== fuzz $target FAILED:"
    failed=1
  fi
  tail -40 "$work/$target.log"
  [ -z "${failed:-}" ]
}
pids=()
status=0
for target in $(cargo fuzz list); do
  fuzz_one "$target" &
  pids+=($!)
  if [ "${#pids[@]}" -ge 2 ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
echo "== fuzz done in $((SECONDS - start)) s"
exit "$status"
