#!/usr/bin/env bash
# CI: two minutes of `bodyzone run` on the synthetic figure (zones, the events log, a PNG display)
# with the binary the tests built (dependencies optimised, bodyzone at opt-level 1), as fast as
# it goes: after a 30 s warm-up its memory must stay flat (median RSS of the last 30 s within
# 1 MB of the 30–60 s one) and no file descriptor may be left open. bench/soak.sh runs the long
# version (README, Reliability).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bin=target/debug/bodyzone
if [ ! -x "$bin" ]; then
  echo "soak: $bin is missing: run cargo test --locked (or cargo build --locked) first" >&2
  exit 1
fi
bash bench/soak.sh --seconds 120 --warmup 30 --bin "$bin" --source synthetic:640x480@10 \
  --max-rss-growth-kb 1024 --max-fd-growth 0
echo "== soak done in $((SECONDS - start)) s"
