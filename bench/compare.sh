#!/usr/bin/env bash
# bodyzone against its peers, back to back on this machine: `bodyzone bench` (release build),
# ONNX Runtime on the same ONNX file (1 and 2 threads) and MediaPipe's selfie solution on the same
# 1280×720 frame. Prints the times and the ratios bodyzone / peer (below 1: bodyzone is faster).
#
#   bench/compare.sh [--short] [--models "landscape general"] [--precision f32|int8] [--record]
#
#   --short      20 timed frames per run instead of 200 (CI: prints, asserts nothing about time)
#   --models     which models (landscape, general, pose-lite, pose-full); default: landscape general
#   --precision  bodyzone's precision (default f32). With int8, ONNX Runtime times its own int8
#                quantization of the same 1x1 convolutions (models/*_int8.onnx; pose-full has
#                none and is timed in f32); MediaPipe's solution is the same either way.
#   --record     append the ratios as a row to bench/RESULTS.md
#
# The peers run from a Python venv in target/peer-venv (onnxruntime, mediapipe==0.10.14), made on
# first use; when pip cannot install them the peers are skipped with a message and only bodyzone
# runs. BODYZONE_BIN=path uses that binary instead of building one.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEER_BENCH:-$root/../shared/peers/peer_bench.py}
venv=$root/target/peer-venv
iters=200
models="landscape general"
precision=f32
record=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --short) iters=20; shift ;;
        --models) models=$2; shift 2 ;;
        --precision) precision=$2; shift 2 ;;
        --record) record=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

bin=${BODYZONE_BIN:-}
if [[ -z $bin ]]; then
    (cd "$root" && cargo build --release --quiet --bin bodyzone)
    bin=$root/target/release/bodyzone
fi

python=""
if [[ ! -f $peers ]]; then
    echo "compare.sh: skipping peers: $peers not found" >&2
elif [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import onnxruntime, mediapipe, cv2' 2>/dev/null; then
    python=$venv/bin/python
elif python3 -m venv "$venv" >/dev/null 2>&1 \
    && "$venv/bin/pip" install --quiet onnxruntime numpy mediapipe==0.10.14 opencv-python-headless >&2; then
    python=$venv/bin/python
else
    echo "compare.sh: skipping peers: could not install onnxruntime and mediapipe==0.10.14 into $venv" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
frame=$work/frame.png
# The same frame for everyone: three people (a fixture) stretched to 1280×720, as from a camera.
fixture=$root/../shared/fixtures/tfjs-models/three_people.jpg
image_args=()
if [[ -n $python && -f $fixture ]]; then
    "$python" -c 'import sys, cv2; cv2.imwrite(sys.argv[2], cv2.resize(cv2.imread(sys.argv[1]), (1280, 720), interpolation=cv2.INTER_AREA))' "$fixture" "$frame"
    image_args=(--image "$frame")
fi

results=()
for model in $models; do
    for threads in 1 2; do
        out=$work/bodyzone.$model.$threads.json
        "$bin" bench --model "$model" --precision "$precision" --threads "$threads" --iters "$iters" \
            "${image_args[@]}" --json "$out" >/dev/null
        results+=("$out")
    done
    onnx=$(sed -n 's/.*"onnx": "\(.*\)".*/\1/p' "$work/bodyzone.$model.1.json")
    if [[ -n $python ]]; then
        for threads in 1 2; do
            "$python" "$peers" ort "$root/$onnx" --threads "$threads" --iters "$iters" >"$work/ort.$model.$threads.json"
            results+=("$work/ort.$model.$threads.json")
        done
        if [[ $model == landscape || $model == general ]]; then
            "$python" "$peers" mediapipe-selfie "$frame" --model "$model" --iters "$iters" 2>/dev/null >"$work/mediapipe.$model.json"
            results+=("$work/mediapipe.$model.json")
        fi
    fi
done

record_args=()
if [[ $record == 1 ]]; then
    record_args=(--record "$root/bench/RESULTS.md")
fi
python3 "$root/bench/compare.py" "${record_args[@]}" "${results[@]}"
