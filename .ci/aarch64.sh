#!/usr/bin/env bash
# aarch64 CI, run by .ci/run after the x86 tests (needs what .ci/setup installs: gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, libclang-dev, qemu-user and the aarch64-unknown-linux-gnu rustup target).
#  1. the release binary for the boards (the shipped profile: thin LTO, stripped), and its size;
#  2. under qemu-user, as a Pi 4 (Cortex-A72: NEON only), a subset of the tests, built with the
#     release profile so the dependencies compile once for aarch64: the library's unit tests (our
#     kernels and graph rewrites against tract's reference ops on tract's aarch64 graphs, the
#     pre/post-processing, the state machines) and the selfie parity with MediaPipe. The pose,
#     exercise, render and CLI suites are left out: emulated, the heavy pose model alone takes
#     minutes, the release binary's pose smoke test below covers that code on ARM, and the rest is
#     integer and geometry logic the x86 run already checks;
#  3. smoke tests by that release binary, as a Pi 4 and as a Pi 5 (Cortex-A76): `bodyzone segment`
#     must give the x86 binary's mask (IoU ≥ 0.999 at 0.5) and `bodyzone pose` its keypoints
#     (within 1 px): tract's and our aarch64 kernels compute what the x86 ones do.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-target}
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
fixture=../shared/fixtures/tfjs-models/three_people.jpg
start=$SECONDS

# One cargo invocation builds the tests and, for them, the release binary: a separate
# `cargo build --release` would compile tract again, as the dev-dependencies change the features
# of some of its dependencies.
QEMU_CPU=cortex-a72 cargo test --locked --release --target "$target" --lib --test segment_parity
# The int8 kernels' sdot path runs only where the CPU has dotprod: again as a Pi 5 (same build).
QEMU_CPU=cortex-a76 cargo test --locked --release --target "$target" --lib quantized
arm_bin=$target_dir/$target/release/bodyzone
echo "== aarch64 release build and tests in $((SECONDS - start)) s: $arm_bin, $(stat -c %s "$arm_bin") bytes"

# The x86 binary the tests use (built already after `cargo test`; `cargo build` alone would
# compile tract again, for the same reason as above).
cargo test --locked --no-run
x86_bin=$target_dir/debug/bodyzone
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The pixels of a PAM file (what `image` writes for .pgm: P7 header up to ENDHDR), one decimal a line.
pam_pixels() {
  local header width height depth maxval size
  header=$(head -c 512 "$1" | sed -n '1,/^ENDHDR$/p')
  [[ $header == P7$'\n'* && $header == *$'\n'ENDHDR ]] || { echo "$1: not a PAM file" >&2; return 1; }
  read -r width height depth maxval < <(awk '$1 == "WIDTH" { w = $2 } $1 == "HEIGHT" { h = $2 }
    $1 == "DEPTH" { d = $2 } $1 == "MAXVAL" { m = $2 } END { print w, h, d, m }' <<<"$header")
  size=$(stat -c %s "$1")
  if [[ $depth != 1 || $maxval != 255 || $size != $((${#header} + 1 + width * height)) ]]; then
    echo "$1: expected an 8-bit grey image (${width}x${height}, depth $depth, maxval $maxval, $size bytes)" >&2
    return 1
  fi
  tail -c $((width * height)) "$1" | od -An -v -tu1 -w1
}

# IoU of the person (probability ≥ 0.5, i.e. byte ≥ 128) in two masks; fails below 0.999 or when
# neither mask has a person (an empty pair would agree for the wrong reason).
check_same_mask() {
  local name=$1
  pam_pixels "$2" >"$work/want.txt"
  pam_pixels "$3" >"$work/got.txt"
  paste "$work/want.txt" "$work/got.txt" | awk -v name="$name" '
    { a = $1 >= 128; b = $2 >= 128; inter += a && b; union += a || b; fg += a
      d = $1 - $2; if (d < 0) d = -d; if (d > maxdiff) maxdiff = d; changed += d > 0; n++ }
    END {
      if (union == 0) { printf "%s: no person in either mask\n", name; exit 1 }
      iou = inter / union
      printf "%s: IoU %.6f, person %.1f%% of %d pixels, %d pixels differ, by at most %d/255\n",
        name, iou, 100 * fg / n, n, changed, maxdiff
      exit iou >= 0.999 ? 0 : 1
    }'
}

"$x86_bin" segment "$fixture" --mask "$work/x86.pgm"
for cpu in cortex-a72 cortex-a76; do
  QEMU_CPU=$cpu qemu-aarch64 "$arm_bin" segment "$fixture" --mask "$work/$cpu.pgm"
  check_same_mask "aarch64 ($cpu) vs x86_64" "$work/x86.pgm" "$work/$cpu.pgm"
done

# Keypoints of every pose in two `bodyzone pose --json` outputs: same count, within 1 px.
check_same_keypoints() {
  python3 - "$@" <<'PY'
import json, sys
name, want, got = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
pairs = [(a, b) for fa, fb in zip(want, got) for pa, pb in zip(fa["poses"], fb["poses"])
         for a, b in zip(pa["keypoints"], pb["keypoints"])]
if len(want) != len(got) or not pairs or any(len(fa["poses"]) != len(fb["poses"]) for fa, fb in zip(want, got)):
    sys.exit(f"{name}: different frames or poses, or no pose at all")
worst = max(((a["x"] - b["x"]) ** 2 + (a["y"] - b["y"]) ** 2) ** 0.5 for a, b in pairs)
print(f"{name}: {len(pairs)} keypoints, worst {worst:.3f} px")
sys.exit(0 if worst <= 1.0 else 1)
PY
}

pose_fixture=tests/fixtures/squat_frame20.jpg
"$x86_bin" pose "$pose_fixture" --static --json "$work/x86.json"
for cpu in cortex-a72 cortex-a76; do
  QEMU_CPU=$cpu qemu-aarch64 "$arm_bin" pose "$pose_fixture" --static --json "$work/$cpu.json"
  check_same_keypoints "pose, aarch64 ($cpu) vs x86_64" "$work/x86.json" "$work/$cpu.json"
done
echo "== aarch64 smoke tests in $((SECONDS - start)) s"
