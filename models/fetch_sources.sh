#!/usr/bin/env bash
# Downloads the MediaPipe .tflite sources into models/src/ (git-ignored) and checks their sha256.
# Needs npm and a Python with pip (the converter's venv is fine: PIP=.venv-models/bin/pip).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$here/src"
pip="${PIP:-pip}"
mkdir -p "$src"
cd "$src"

# The pose detector only ships in the Python wheel; any platform's wheel holds the same file,
# so pin one to keep the archive's hash stable.
wheel=mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl

[ -f mediapipe-selfie_segmentation-0.1.1675465747.tgz ] || npm pack --silent @mediapipe/selfie_segmentation@0.1.1675465747 >/dev/null
[ -f mediapipe-pose-0.5.1675469404.tgz ] || npm pack --silent @mediapipe/pose@0.5.1675469404 >/dev/null
[ -f "$wheel" ] || "$pip" download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -d . mediapipe==0.10.14

sha256sum --check --quiet <<'EOF'
7767b33eaa68990ee06c28bbb89f39a13a47ebb07ff0f1fd4947d9e817bb9bf9  mediapipe-selfie_segmentation-0.1.1675465747.tgz
8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84  mediapipe-pose-0.5.1675469404.tgz
a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4  mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
EOF

tar -xzf mediapipe-selfie_segmentation-0.1.1675465747.tgz --strip-components=1 \
    package/selfie_segmentation.tflite package/selfie_segmentation_landscape.tflite
tar -xzf mediapipe-pose-0.5.1675469404.tgz --strip-components=1 \
    package/pose_landmark_lite.tflite package/pose_landmark_full.tflite package/pose_landmark_heavy.tflite
unzip -o -j -q "$wheel" mediapipe/modules/pose_detection/pose_detection.tflite -d .

sha256sum --check --quiet <<'EOF'
8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27  selfie_segmentation.tflite
4aafe6223bb8dac6fac8ca8ed56852870a33051ef3f6238822d282a109962894  selfie_segmentation_landscape.tflite
f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61  pose_landmark_lite.tflite
e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f  pose_landmark_full.tflite
59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe  pose_landmark_heavy.tflite
9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c  pose_detection.tflite
EOF
echo "sources ok in $src"
