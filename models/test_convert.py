#!/usr/bin/env python3
"""Checks the committed ONNX models against the TFLite interpreter (ai-edge-litert).

    .venv-models/bin/python -m pytest models/test_convert.py     # or run this file as a script

Needs the sources in models/src/ (models/fetch_sources.sh). For every model: the ONNX interface
(names, shapes, only plain ONNX ops with constant shapes), that `convert.py` reproduces the
committed file byte for byte, and the outputs of ONNX Runtime vs the TFLite interpreter on random
inputs and on a real photo. The MediaPipe custom op Convolution2DTransposeBias is not in LiteRT; the
reference swaps it for the builtin TRANSPOSE_CONV (same maths, spec §7.2) and a numpy version of
the custom op checks that swap.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert  # noqa: E402

PHOTO = os.path.join(HERE, "..", "..", "shared", "fixtures", "tfjs-models", "three_people.jpg")
LANDMARK_SHAPES = [[1, 195], [1, 1], [1, 1, 256, 256], [1, 39, 64, 64], [1, 117]]
CONTRACT = {
    "selfie_segmentation_landscape.onnx": ([1, 3, 144, 256], (0.0, 1.0), [[1, 1, 144, 256]]),
    "selfie_segmentation.onnx": ([1, 3, 256, 256], (0.0, 1.0), [[1, 1, 256, 256]]),
    "pose_detection.onnx": ([1, 3, 224, 224], (-1.0, 1.0), [[1, 2254, 12], [1, 2254, 1]]),
    "pose_landmark_lite.onnx": ([1, 3, 256, 256], (0.0, 1.0), LANDMARK_SHAPES),
    "pose_landmark_full.onnx": ([1, 3, 256, 256], (0.0, 1.0), LANDMARK_SHAPES),
    "pose_landmark_heavy.onnx": ([1, 3, 256, 256], (0.0, 1.0), LANDMARK_SHAPES),
}
ALLOWED_OPS = {
    "Conv", "ConvTranspose", "Resize", "Pad", "MaxPool", "AveragePool", "GlobalAveragePool",
    "Reshape", "Concat", "Transpose", "DepthToSpace", "Sigmoid", "HardSwish", "Relu", "Clip",
    "PRelu", "Mul", "Add", "Sub", "Cast", "Tanh", "ReduceMean",
}  # fmt: skip
# Max abs difference allowed, relative to max(1, largest magnitude of the reference output).
# LiteRT's own kernels (builtin, XNNPACK, reference) disagree with each other by up to 2e-5 on the
# selfie masks of a real photo: float32 summation order, amplified by the sigmoid's slope.
# The landmark models' segmentation head turns float32 rounding into logit differences of several
# units (its logits reach ±1600); there the bar is the kernels' own disagreement, times NOISE_FACTOR.
REL_TOL = 5e-5
NOISE_FACTOR = 2.0
MAX_TOTAL_BYTES = 60 * 1024 * 1024
# ONNX Runtime's int8 files against their f32 files (measured on the photo: 0.986, 0.987).
MIN_INT8_IOU = 0.97


def present_models():
    return [m for m in convert.MODELS if os.path.exists(os.path.join(HERE, m[1]))]


def source(tfl):
    path = os.path.join(convert.SRC, tfl)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: run models/fetch_sources.sh")
    return path


def reference_flatbuffer(path):
    """The .tflite with MediaPipe's Convolution2DTransposeBias replaced by TRANSPOSE_CONV."""
    buf = open(path, "rb").read()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(buf, 0))
    customs = [
        k for k, c in enumerate(model.operatorCodes)
        if c.customCode == b"Convolution2DTransposeBias"
    ]  # fmt: skip
    if not customs:
        return buf, None
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.TRANSPOSE_CONV
    code.deprecatedBuiltinCode = schema.BuiltinOperator.TRANSPOSE_CONV
    code.version = 3
    model.operatorCodes.append(code)
    g = model.subgraphs[0]
    swapped = None
    for op in g.operators:
        if op.opcodeIndex not in customs:
            continue
        padding, stride_w, stride_h = np.frombuffer(bytes(op.customOptions[:12]), np.int32)
        x, w, b = op.inputs
        out_shape = np.array(g.tensors[op.outputs[0]].shape, np.int32)
        buffer = schema.BufferT()
        buffer.data = list(out_shape.tobytes())
        model.buffers.append(buffer)
        t = schema.TensorT()
        t.shape = [4]
        t.type = schema.TensorType.INT32
        t.buffer = len(model.buffers) - 1
        t.name = b"transpose_conv_output_shape"
        g.tensors.append(t)
        opts = schema.TransposeConvOptionsT()
        opts.padding = schema.Padding.SAME if padding == 1 else schema.Padding.VALID
        opts.strideW, opts.strideH = int(stride_w), int(stride_h)
        op.opcodeIndex = len(model.operatorCodes) - 1
        op.inputs = [len(g.tensors) - 1, w, x, b]
        op.builtinOptionsType = schema.BuiltinOptions.TransposeConvOptions
        op.builtinOptions = opts
        op.customOptions = None
        swapped = (x, w, b, op.outputs[0], int(stride_h), int(stride_w))
    builder = schema.flatbuffers.Builder(len(buf) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), swapped


def custom_transpose_conv(x, w, b, stride_h, stride_w):
    """Convolution2DTransposeBias as MediaPipe's kernel computes it, for the P = 0 case (§7.2)."""
    n, h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    assert (kh, kw) == (stride_h, stride_w), "only non-overlapping blocks are modelled"
    out = np.einsum("nhwc,oyxc->nhywxo", x.astype(np.float64), w.astype(np.float64))
    return out.reshape(n, h * kh, wd * kw, o) + b.astype(np.float64)


class Reference:
    """LiteRT on the .tflite, twice: builtin kernels (the reference) and XNNPACK (the noise floor)."""

    def __init__(self, tfl):
        buf, self.swapped = reference_flatbuffer(source(tfl))
        # Plain builtin kernels: the XNNPACK delegate would hide the intermediate tensors.
        self.interp = Interpreter(
            model_content=buf,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=self.swapped is not None,
        )
        self.xnnpack = Interpreter(model_content=buf)
        self.interp.allocate_tensors()
        self.xnnpack.allocate_tensors()

    @staticmethod
    def invoke(it, x_nhwc):
        it.set_tensor(it.get_input_details()[0]["index"], x_nhwc)
        it.invoke()
        return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]

    def run(self, x_nhwc):
        """(builtin outputs, XNNPACK outputs), in the TFLite graph's output order."""
        outs = self.invoke(self.interp, x_nhwc)
        if self.swapped is not None:
            it = self.interp
            x, w, b, y, sh, sw = self.swapped
            mine = custom_transpose_conv(
                it.get_tensor(x), it.get_tensor(w), it.get_tensor(b), sh, sw
            )
            want = it.get_tensor(y)
            diff = float(np.abs(mine - want).max()) / max(1.0, float(np.abs(want).max()))
            assert diff < 1e-6, f"TRANSPOSE_CONV differs from the custom op by {diff} (relative)"
        return outs, self.invoke(self.xnnpack, x_nhwc)


def photo(shape_nchw, lo, hi):
    _, _, h, w = shape_nchw
    img = Image.open(PHOTO).convert("RGB").resize((w, h), Image.BILINEAR)
    x = np.asarray(img, np.float32) / 255.0
    return (lo + (hi - lo) * x)[None].astype(np.float32)  # NHWC


def inputs_for(shape_nchw, lo, hi):
    rng = np.random.default_rng(1234)
    n, c, h, w = shape_nchw
    yield "random", rng.uniform(lo, hi, size=(n, h, w, c)).astype(np.float32)
    yield "random2", rng.uniform(lo, hi, size=(n, h, w, c)).astype(np.float32)
    yield "photo", photo(shape_nchw, lo, hi)


def measure(tfl, onnx_file):
    """Per output, over all test inputs: max abs diff ONNX Runtime vs LiteRT builtin kernels, the
    same between LiteRT's builtin and XNNPACK kernels (float32 noise floor), and the output's scale.
    """
    in_shape, (lo, hi), _ = CONTRACT[onnx_file]
    ref = Reference(tfl)
    sess = ort.InferenceSession(os.path.join(HERE, onnx_file), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    worst = {n: [0.0, 0.0, 1.0] for n in names}
    for _, x in inputs_for(in_shape, lo, hi):
        want, other = ref.run(x)
        got = sess.run(None, {"input": x.transpose(0, 3, 1, 2)})
        for name, g_out, w_out, o_out in zip(names, got, want, other):
            if g_out.ndim == 4:
                g_out = g_out.transpose(0, 2, 3, 1)
            assert g_out.shape == w_out.shape, f"{name}: {g_out.shape} vs {w_out.shape}"
            w = worst[name]
            w[0] = max(w[0], float(np.abs(g_out - w_out).max()))
            w[1] = max(w[1], float(np.abs(o_out - w_out).max()))
            w[2] = max(w[2], float(np.abs(w_out).max()))
    return worst


def within_tolerance(diff, noise, scale):
    return diff <= max(REL_TOL * scale, NOISE_FACTOR * noise)


def check_interface(onnx_file):
    model = onnx.load(os.path.join(HERE, onnx_file))
    in_shape, _, out_shapes = CONTRACT[onnx_file]
    names = next(n for _, o, n in convert.MODELS if o == onnx_file)

    def dims(vi):
        return [d.dim_value for d in vi.type.tensor_type.shape.dim]

    assert [i.name for i in model.graph.input] == ["input"]
    assert dims(model.graph.input[0]) == in_shape
    assert [o.name for o in model.graph.output] == names
    assert [dims(o) for o in model.graph.output] == out_shapes
    ops = {n.op_type for n in model.graph.node}
    assert ops <= ALLOWED_OPS, f"unexpected ops {ops - ALLOWED_OPS}"
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        shape = vi.type.tensor_type.shape
        assert all(d.HasField("dim_value") for d in shape.dim), f"{vi.name} has a symbolic shape"
    return sorted(ops)


def check_reproducible(tfl, onnx_file, tmp_dir):
    names = next(n for _, o, n in convert.MODELS if o == onnx_file)
    out = os.path.join(tmp_dir, onnx_file)
    convert.convert_file(source(tfl), out, names)
    with open(out, "rb") as a, open(os.path.join(HERE, onnx_file), "rb") as b:
        assert a.read() == b.read(), f"{onnx_file} differs from what convert.py writes now"


def present_int8_models():
    return [m for m in convert.INT8_MODELS if os.path.exists(os.path.join(HERE, m[1]))]


def check_int8(f32_file, int8_file, tmp_dir):
    """The int8 file is what `convert.py --int8` writes now, has the f32 file's interface, and its
    selfie mask on the photo agrees with the f32 file's (IoU at 0.5 >= MIN_INT8_IOU; the landmark
    models' outputs are checked for shape only: the photo is no landmark crop). Returns the IoU."""
    out = os.path.join(tmp_dir, int8_file)
    convert.quantize_file(os.path.join(HERE, f32_file), out)
    with open(out, "rb") as a, open(os.path.join(HERE, int8_file), "rb") as b:
        assert a.read() == b.read(), f"{int8_file} differs from what convert.py --int8 writes now"
    shape, (lo, hi), out_shapes = CONTRACT[f32_file]
    x = photo(shape, lo, hi).transpose(0, 3, 1, 2).copy()
    run = lambda f: ort.InferenceSession(os.path.join(HERE, f)).run(None, {"input": x})  # noqa: E731
    want, got = run(f32_file), run(int8_file)
    assert [list(g.shape) for g in got] == out_shapes, f"{int8_file}: output shapes"
    if not f32_file.startswith("selfie"):
        return None
    a, b = want[0] >= 0.5, got[0] >= 0.5
    iou = float((a & b).sum() / (a | b).sum())
    assert iou >= MIN_INT8_IOU, f"{int8_file}: mask IoU {iou:.4f} against {f32_file}"
    return iou


# ---- pytest entry points ---------------------------------------------------------------------
def pytest_generate_tests(metafunc):
    if "model" in metafunc.fixturenames:
        models = present_models()
        metafunc.parametrize("model", models, ids=[m[1] for m in models])
    if "int8_model" in metafunc.fixturenames:
        models = present_int8_models()
        metafunc.parametrize("int8_model", models, ids=[m[1] for m in models])


def test_interface(model):
    check_interface(model[1])


def test_reproducible(model, tmp_path):
    check_reproducible(model[0], model[1], str(tmp_path))


def test_matches_tflite(model):
    worst = measure(model[0], model[1])
    for name, (diff, noise, scale) in worst.items():
        assert within_tolerance(diff, noise, scale), (
            f"{model[1]} {name}: max abs diff {diff:.2e} (LiteRT kernels: {noise:.2e}, scale {scale:.2e})"
        )


def test_int8(int8_model, tmp_path):
    check_int8(int8_model[0], int8_model[1], str(tmp_path))


def test_total_size():
    files = [m[1] for m in present_models() + present_int8_models()]
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in files)
    assert total < MAX_TOTAL_BYTES


def main():
    import tempfile

    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for tfl, onnx_file, _ in present_models():
            ops = check_interface(onnx_file)
            check_reproducible(tfl, onnx_file, tmp)
            worst = measure(tfl, onnx_file)
            size = os.path.getsize(os.path.join(HERE, onnx_file))
            print(f"{onnx_file}: {size} bytes, ops {', '.join(ops)}")
            for name, (diff, noise, scale) in worst.items():
                ok = within_tolerance(diff, noise, scale)
                failed += not ok
                print(
                    f"  {name}: max abs diff {diff:.2e}, LiteRT builtin vs XNNPACK {noise:.2e},"
                    f" max |output| {scale:.3g}: {'ok' if ok else 'FAIL'}"
                )
        for f32_file, int8_file in present_int8_models():
            iou = check_int8(f32_file, int8_file, tmp)
            size = os.path.getsize(os.path.join(HERE, int8_file))
            print(f"{int8_file}: {size} bytes" + ("" if iou is None else f", mask IoU vs f32 {iou:.4f}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
