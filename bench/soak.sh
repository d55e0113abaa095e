#!/usr/bin/env bash
# Endurance: `bodyzone run` on the synthetic figure for a while, as a mirror runs for months,
# with two zones, the events log (synced after each event) and a PNG display written every frame;
# its resident memory (VmRSS) and open file descriptors are sampled every second, and the end is
# compared with a baseline taken once it is warm.
#
#   bench/soak.sh [--seconds N] [--bin PATH] [--source SPEC] [--realtime] [--warmup S]
#                 [--out DIR] [--max-rss-growth-kb K] [--max-fd-growth N]
#
# The baseline is the median RSS of the first window after the warm-up, the end the median of
# the last window (windows of 60 s, or a third of what follows the warm-up in short runs):
# medians, because the allocator breathes by a few hundred kB from one second to the next.
# With --max-*, growth above the limit fails (exit 1). Samples go to DIR/samples.tsv.
set -euo pipefail

seconds=3600
bin=target/release/bodyzone
source_spec=synthetic:640x480@10
realtime=()
warmup=30
out=
max_rss_kb=
max_fds=
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --source) source_spec=$2; shift 2 ;;
    --realtime) realtime=(--realtime); shift ;;
    --warmup) warmup=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --max-rss-growth-kb) max_rss_kb=$2; shift 2 ;;
    --max-fd-growth) max_fds=$2; shift 2 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$seconds" -le "$warmup" ]; then
  echo "soak.sh: --seconds must be longer than the warm-up ($warmup s)" >&2
  exit 2
fi
if [ -z "$out" ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/bodyzone-soak.XXXXXX")
fi
mkdir -p "$out"

# The figure drifts left and right every 8 s: it enters and leaves each zone once a cycle.
cat >"$out/soak.toml" <<EOF
[[zone]]
name = "left"
polygon = [[0.0, 0.6], [0.5, 0.6], [0.5, 1.0], [0.0, 1.0]]
exercise = "squat"

[[zone]]
name = "right"
polygon = [[0.5, 0.6], [1.0, 0.6], [1.0, 1.0], [0.5, 1.0]]

[output]
events = "$out/events.jsonl"

[output.display]
kind = "png"
path = "$out/display.png"
EOF

"$bin" run --config "$out/soak.toml" --source "$source_spec" "${realtime[@]}" \
  2>"$out/stderr.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

printf 't_s\trss_kb\tfds\tthreads\n' >"$out/samples.tsv"
started=$(date +%s)
while :; do
  now=$(date +%s)
  t=$((now - started))
  [ "$t" -ge "$seconds" ] && break
  status=/proc/$pid/status
  if ! rss=$(awk '/^VmRSS:/ { print $2 }' "$status" 2>/dev/null) || [ -z "$rss" ]; then
    echo "soak.sh: bodyzone exited after $t s:" >&2
    tail -5 "$out/stderr.log" >&2
    exit 1
  fi
  threads=$(awk '/^Threads:/ { print $2 }' "$status")
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  printf '%s\t%s\t%s\t%s\n' "$t" "$rss" "$fds" "$threads" >>"$out/samples.tsv"
  sleep 1
done

# The first SIGTERM stops after the current frame and logs the totals.
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT
finished=$(grep -o 'finished frames=[0-9]*' "$out/stderr.log" | tail -1 | cut -d= -f2)
events=$(wc -l <"$out/events.jsonl" 2>/dev/null || echo 0)

window=$(((seconds - warmup) / 3))
[ "$window" -gt 60 ] && window=60
# median of column $2 over rows with t in [lo, hi)
median() {
  awk -v col="$1" -v lo="$2" -v hi="$3" 'NR > 1 && $1 >= lo && $1 < hi { print $col }' \
    "$out/samples.tsv" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'
}
column_max() {
  awk -v col="$1" 'NR > 1 && $col > m { m = $col } END { print m + 0 }' "$out/samples.tsv"
}
base_rss=$(median 2 "$warmup" $((warmup + window)))
end_rss=$(median 2 $((seconds - window)) "$seconds")
max_rss=$(column_max 2)
base_fds=$(median 3 "$warmup" $((warmup + window)))
end_fds=$(median 3 $((seconds - window)) "$seconds")
max_fds_seen=$(column_max 3)
rss_growth=$((end_rss - base_rss))
fd_growth=$((end_fds - base_fds))

mb() { awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb / 1024 }'; }
echo "soak: $("$bin" --version), $source_spec${realtime:+ (realtime)}, $seconds s"
echo "frames: ${finished:-?} ($(awk -v f="${finished:-0}" -v s="$seconds" 'BEGIN { printf "%.1f", f / s }') fps), events: $events"
echo "rss: baseline $(mb "$base_rss") (median ${warmup}-$((warmup + window)) s), end $(mb "$end_rss") (median of the last $window s), max $(mb "$max_rss"); growth ${rss_growth} kB"
echo "fds: baseline $base_fds, end $end_fds, max $max_fds_seen; growth $fd_growth"
echo "samples: $out/samples.tsv"

failed=0
if [ -n "$max_rss_kb" ] && [ "$rss_growth" -gt "$max_rss_kb" ]; then
  echo "soak.sh: RSS grew by $rss_growth kB after the warm-up (limit $max_rss_kb kB)" >&2
  failed=1
fi
if [ -n "$max_fds" ] && [ "$fd_growth" -gt "$max_fds" ]; then
  echo "soak.sh: open file descriptors grew by $fd_growth (limit $max_fds)" >&2
  failed=1
fi
exit "$failed"
