"""Writes the hand-made seeds of the convert and stdin_reader targets into fuzz/corpus/.

Their inputs are an `arbitrary` header (see each target's `Input`) followed by the frame bytes,
so valid frames of every format are laid out here rather than found by the fuzzer. The image and
config seeds are ordinary files: the configs come from the README and tests/config_errors.rs,
the JPEGs from tests/fixtures/jpeg, and the other pictures (12x9, each format and pixel layout
the decoders branch on) from ffmpeg, as `image_seeds` shows. Run from fuzz/: python3 seeds.py
"""

import shutil
import struct
import subprocess

FORMATS = {0: "yuyv", 1: "nv12", 2: "yuv420", 3: "rgb24", 4: "mjpeg", 5: "custom"}


def min_stride(fmt, w):
    return {0: 4 * ((w + 1) // 2), 1: 2 * ((w + 1) // 2), 2: w, 3: 3 * w}[fmt]


def frame_len(fmt, stride, h):
    chroma_rows = (h + 1) // 2
    return {
        0: stride * h,
        1: stride * h + stride * chroma_rows,
        2: stride * h + 2 * ((stride + 1) // 2) * chroma_rows,
        3: stride * h,
    }[fmt]


def ramp(n):
    return bytes((i * 37 + 11) % 256 for i in range(n))


def jpeg_size(data):
    """Width and height from the first SOF0/SOF2 marker."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        i = data.find(marker)
        if i >= 0:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
    raise ValueError("no SOF marker")


def image_seeds():
    """Tiny pictures of every decoded format; the JPEGs are the tests' own odd cases."""
    for name in ["cmyk", "exif6", "gray", "progressive", "restart", "truncated", "yuv411"]:
        shutil.copy(f"../tests/fixtures/jpeg/{name}.jpg", "corpus/image/")
    encodings = {
        "rgb.png": ["-pix_fmt", "rgb24"],
        "gray.png": ["-pix_fmt", "gray"],
        "rgba.png": ["-pix_fmt", "rgba"],
        "palette.png": ["-pix_fmt", "pal8"],
        "rgb16.png": ["-pix_fmt", "rgb48be"],
        "rgb.bmp": ["-pix_fmt", "bgr24"],
        "palette.bmp": ["-pix_fmt", "pal8"],
        "rgb.tiff": ["-pix_fmt", "rgb24"],
        "gray.tiff": ["-pix_fmt", "gray"],
        "deflate.tiff": ["-pix_fmt", "rgb24", "-compression_algo", "deflate"],
        "lossless.webp": ["-c:v", "libwebp", "-lossless", "1"],
        "lossy.webp": ["-c:v", "libwebp", "-quality", "50"],
        "alpha.webp": ["-pix_fmt", "yuva420p", "-c:v", "libwebp"],
        "rgb.ppm": [],
        "gray.pgm": ["-pix_fmt", "gray"],
        "yuv420.jpg": ["-pix_fmt", "yuvj420p"],
        "yuv444.jpg": ["-pix_fmt", "yuvj444p"],
    }
    for name, args in encodings.items():
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
            + ["-i", "testsrc2=size=12x9:rate=1", "-frames:v", "1"]
            + args
            + [f"corpus/image/{name}"],
            check=True,
        )


def convert(name, fmt, w, h, stride_delta, full, out_w, out_h, flags, data):
    header = struct.pack("<BHHbBBBB", fmt, w, h, stride_delta, full, out_w, out_h, flags)
    with open(f"corpus/convert/{name}", "wb") as f:
        f.write(header + data)


def stdin(name, fmt, w, h, full, read_size, stream):
    with open(f"corpus/stdin_reader/{name}", "wb") as f:
        f.write(struct.pack("<BBBBB", fmt, w, h, full, read_size) + stream)


image_seeds()
for fmt in range(4):
    for w, h, pad in [(8, 4, 0), (7, 5, 3), (1, 1, 0)]:
        n = frame_len(fmt, min_stride(fmt, w) + pad, h)
        convert(f"{FORMATS[fmt]}_{w}x{h}_pad{pad}", fmt, w, h, pad, pad % 2, 5, 3, pad % 4, ramp(n))
convert("nv12_short", 1, 8, 4, 0, 0, 4, 4, 0, ramp(40))
convert("yuyv_stride_too_short", 0, 8, 4, -2, 0, 4, 4, 0, ramp(64))
convert("custom_grey", 5, 4, 4, 0, 0, 2, 2, 0, ramp(16))
for jpg in ["yuv420", "yuv444", "gray", "cmyk", "progressive"]:
    with open(f"corpus/image/{jpg}.jpg", "rb") as f:
        data = f.read()
    w, h = jpeg_size(data)
    convert(f"mjpeg_{jpg}", 4, w, h, 0, 1, 6, 4, 3, data)
    convert(f"mjpeg_{jpg}_wrong_size", 4, w + 1, h, 0, 1, 6, 4, 0, data)

for fmt in range(4):
    n = frame_len(fmt, min_stride(fmt, 6), 4)
    stdin(f"{FORMATS[fmt]}_6x4_two_frames", fmt, 6, 4, 0, 7, ramp(2 * n))
    n = frame_len(fmt, min_stride(fmt, 5), 3)
    stdin(f"{FORMATS[fmt]}_5x3_truncated", fmt, 5, 3, 1, 0, ramp(n + n // 2))
stdin("mjpeg_refused", 4, 6, 4, 0, 7, ramp(20))
