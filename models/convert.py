#!/usr/bin/env python3
"""Convert MediaPipe .tflite models to ONNX (NCHW), op by op, without TensorFlow.

    python models/convert.py SRC.tflite OUT.onnx [--input NAME] [--outputs A,B,...]
    python models/convert.py --all          # rebuild every committed models/*.onnx from models/src/
    python models/convert.py --int8         # rebuild the *_int8.onnx files from the f32 ones

The TFLite graph is NHWC; the ONNX graph keeps every rank-4 activation in NCHW and transposes only
where an op's meaning depends on the memory order (RESHAPE, 4-D constants of elementwise ops).
Weights stay fp16 as in the .tflite, each behind a Cast to float that runtimes fold at load time.

The int8 files are not for bodyzone (it quantizes the f32 model itself at load time, see
src/model/quantized.rs) but for timing ONNX Runtime on the same work: ONNX Runtime's own dynamic
quantization of the f32 file's 1x1 convolutions, as bodyzone's Precision::Int8 does them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.Padding import Padding
from tflite.TensorType import TensorType

OPSET = 14  # HardSwish needs 14; tract-onnx 0.23 and onnxruntime 1.20+ read it.
IR_VERSION = 8  # onnxruntime 1.20 reads IR <= 10; 8 is enough for opset 14.

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")

# The committed models: source file in models/src/, output file, input name, output names in
# TFLite output order (see shared spec §0 for what each TFLite output index is).
LANDMARK_OUTPUTS = ["landmarks", "pose_flag", "segmentation", "heatmap", "world_landmarks"]
MODELS = [
    ("selfie_segmentation_landscape.tflite", "selfie_segmentation_landscape.onnx", ["mask"]),
    ("selfie_segmentation.tflite", "selfie_segmentation.onnx", ["mask"]),
    ("pose_detection.tflite", "pose_detection.onnx", ["boxes", "scores"]),
    ("pose_landmark_lite.tflite", "pose_landmark_lite.onnx", LANDMARK_OUTPUTS),
    ("pose_landmark_full.tflite", "pose_landmark_full.onnx", LANDMARK_OUTPUTS),
    ("pose_landmark_heavy.tflite", "pose_landmark_heavy.onnx", LANDMARK_OUTPUTS),
]

# Int8 variants for `bodyzone bench --precision int8`'s peer: (f32 file, int8 file).
INT8_MODELS = [
    ("selfie_segmentation_landscape.onnx", "selfie_segmentation_landscape_int8.onnx"),
    ("selfie_segmentation.onnx", "selfie_segmentation_int8.onnx"),
    ("pose_landmark_lite.onnx", "pose_landmark_lite_int8.onnx"),
]

OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
NP_TYPES = {
    TensorType.FLOAT32: np.float32,
    TensorType.FLOAT16: np.float16,
    TensorType.INT32: np.int32,
    TensorType.INT64: np.int64,
    TensorType.UINT8: np.uint8,
    TensorType.INT8: np.int8,
}
NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]
NHWC_AXIS_IN_NCHW = [0, 2, 3, 1]  # NHWC axis a lives at NCHW axis NHWC_AXIS_IN_NCHW[a]


class ConversionError(Exception):
    pass


def options(op, cls):
    table = op.BuiltinOptions()
    if table is None:
        raise ConversionError(f"operator without options, expected {cls.__name__}")
    opt = cls()
    opt.Init(table.Bytes, table.Pos)
    return opt


def index_vector(dim_meta, kind):
    """A DimensionMetadata segments/indices union as a numpy array."""
    union_type = getattr(dim_meta, f"Array{kind}Type")()
    table = getattr(dim_meta, f"Array{kind}")()
    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}.get(union_type)
    if cls is None:
        raise ConversionError(f"unsupported sparse index vector type {union_type}")
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(values, shape, sparsity):
    """Decode a TFLite sparse tensor (no block map) into a dense array of `shape`."""
    if sparsity.BlockMapLength() != 0:
        raise ConversionError("block-sparse tensors are not supported")
    order = list(sparsity.TraversalOrderAsNumpy())
    if order != list(range(len(shape))):
        raise ConversionError(f"unsupported traversal order {order}")
    dense = np.zeros(shape, dtype=values.dtype)
    dims = [sparsity.DimMetadata(d) for d in range(sparsity.DimMetadataLength())]
    out_pos = 0

    # `prev` is the flat position of the parent in the stored (compressed) layout; a dense dim
    # multiplies it out, a CSR dim uses it to pick its segment.
    def walk(level, prev, coord):
        nonlocal out_pos
        if level == len(shape):
            dense[tuple(coord)] = values[prev]
            out_pos += 1
            return
        dm = dims[level]
        if dm.Format() == 0:  # DENSE
            size = dm.DenseSize()
            for i in range(size):
                walk(level + 1, prev * size + i, coord + [i])
        else:  # SPARSE_CSR
            seg = index_vector(dm, "Segments")
            idx = index_vector(dm, "Indices")
            for k in range(seg[prev], seg[prev + 1]):
                walk(level + 1, k, coord + [int(idx[k])])

    walk(0, 0, [])
    if out_pos != len(values):
        raise ConversionError(f"sparse tensor decoded {out_pos} of {len(values)} values")
    return dense


def same_pads(in_size, kernel, stride, dilation=1):
    """TFLite SAME padding as explicit (begin, end); TFLite puts the odd pixel at the end."""
    out = -(-in_size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - in_size, 0)
    return total // 2, total - total // 2


class Converter:
    def __init__(self, buf, input_names, output_names):
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        if self.model.SubgraphsLength() != 1:
            raise ConversionError("only single-subgraph models are supported")
        self.g = self.model.Subgraphs(0)
        self.nodes = []
        self.inits = []
        self.consts = {}  # tensor index -> numpy array (TFLite layout)
        self.names = {}
        self.cache = {}
        self.counter = 0
        for pos, name in enumerate(input_names):
            self.names[self.g.Inputs(pos)] = name
        if self.g.OutputsLength() != len(output_names):
            raise ConversionError(
                f"model has {self.g.OutputsLength()} outputs, {len(output_names)} names given"
            )
        for pos, name in enumerate(output_names):
            self.names[self.g.Outputs(pos)] = name
        for i in range(self.g.TensorsLength()):
            arr = self.buffer_array(i)
            if arr is not None:
                self.consts[i] = arr

    # ---- tensors -------------------------------------------------------------------------
    def tensor(self, i):
        return self.g.Tensors(i)

    def shape(self, i):
        return [int(d) for d in self.tensor(i).ShapeAsNumpy()]

    def rank(self, i):
        return len(self.shape(i))

    def buffer_array(self, i):
        t = self.tensor(i)
        data = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = NP_TYPES[t.Type()]
        values = np.frombuffer(data.tobytes(), dtype=dtype)
        if t.Sparsity() is not None:
            return ("sparse", values, t.Sparsity())
        return values.reshape(self.shape(i)).copy()

    def name(self, i):
        if i not in self.names:
            self.names[i] = f"t{i}"
        return self.names[i]

    def fresh(self, hint):
        self.counter += 1
        return f"{hint}_{self.counter}"

    def node(self, op_type, inputs, outputs=None, **attrs):
        outputs = outputs or [self.fresh(op_type.lower())]
        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, name=self.fresh("n_" + op_type), **attrs)
        )
        return outputs[0]

    def initializer(self, array, hint):
        """A constant; float16 data stays float16 behind a Cast to float."""
        name = self.fresh(hint)
        if array.dtype == np.float16:
            self.inits.append(numpy_helper.from_array(array, name + "_f16"))
            self.node("Cast", [name + "_f16"], [name], to=TensorProto.FLOAT)
        else:
            self.inits.append(numpy_helper.from_array(array, name))
        return name

    def int64(self, values, hint="shape"):
        return self.initializer(np.asarray(values, dtype=np.int64), hint)

    def const_value(self, i):
        """A constant tensor (TFLite layout) in its stored dtype, or None for activations."""
        return self.consts.get(i)

    def const(self, i, transform=None, key=None):
        """An ONNX name for constant tensor i after `transform` (e.g. a layout change)."""
        cache_key = (i, key)
        if cache_key not in self.cache:
            arr = self.consts[i]
            if transform is not None:
                arr = np.ascontiguousarray(transform(arr))
            self.cache[cache_key] = self.initializer(arr, f"c{i}")
        return self.cache[cache_key]

    def is_nchw(self, i):
        """Rank-4 activations are stored NCHW in the ONNX graph."""
        return self.rank(i) == 4 and i not in self.consts

    # ---- activations ---------------------------------------------------------------------
    def emit_with_activation(self, op_type, inputs, out_idx, fused, **attrs):
        """Emit op_type into TFLite tensor out_idx, followed by its fused activation."""
        out = self.name(out_idx)
        if fused == ActivationFunctionType.NONE:
            self.node(op_type, inputs, [out], **attrs)
            return
        tmp = self.node(op_type, inputs, **attrs)
        if fused == ActivationFunctionType.RELU:
            self.node("Relu", [tmp], [out])
        elif fused == ActivationFunctionType.RELU6:
            self.clip(tmp, out, 0.0, 6.0)
        elif fused == ActivationFunctionType.RELU_N1_TO_1:
            self.clip(tmp, out, -1.0, 1.0)
        elif fused == ActivationFunctionType.TANH:
            self.node("Tanh", [tmp], [out])
        else:
            raise ConversionError(f"unsupported fused activation {fused}")

    def clip(self, x, out, lo, hi):
        lo_name = self.initializer(np.array(lo, np.float32), "clip_min")
        hi_name = self.initializer(np.array(hi, np.float32), "clip_max")
        self.node("Clip", [x, lo_name, hi_name], [out])

    # ---- ops -----------------------------------------------------------------------------
    def convert(self):
        for k in range(self.g.OperatorsLength()):
            op = self.g.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            opcode = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            op_name = OP_NAMES[opcode]
            if op_name == "CUSTOM":
                op_name = "CUSTOM_" + code.CustomCode().decode()
            handler = getattr(self, "op_" + op_name, None)
            if handler is None:
                raise ConversionError(f"operator {k}: unsupported op {op_name}")
            ins = [op.Inputs(j) for j in range(op.InputsLength())]
            outs = [op.Outputs(j) for j in range(op.OutputsLength())]
            try:
                handler(op, ins, outs)
            except ConversionError as e:
                raise ConversionError(f"operator {k} ({op_name}): {e}") from None

        inputs = []
        for pos in range(self.g.InputsLength()):
            i = self.g.Inputs(pos)
            s = self.shape(i)
            onnx_shape = [s[d] for d in NHWC_TO_NCHW] if len(s) == 4 else s
            inputs.append(helper.make_tensor_value_info(self.name(i), TensorProto.FLOAT, onnx_shape))
        outputs = []
        for pos in range(self.g.OutputsLength()):
            i = self.g.Outputs(pos)
            s = self.shape(i)
            onnx_shape = [s[d] for d in NHWC_TO_NCHW] if len(s) == 4 else s
            outputs.append(
                helper.make_tensor_value_info(self.name(i), TensorProto.FLOAT, onnx_shape)
            )
        graph = helper.make_graph(self.nodes, "graph", inputs, outputs, self.inits)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="bodyzone-models-convert",
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        return model

    def op_DEQUANTIZE(self, op, ins, outs):
        src = self.consts.get(ins[0])
        if src is None:
            self.node("Cast", [self.name(ins[0])], [self.name(outs[0])], to=TensorProto.FLOAT)
            return
        if src.dtype != np.float16:
            raise ConversionError(f"DEQUANTIZE of {src.dtype} constants is not supported")
        # Folded: consumers read the fp16 constant through const(), which adds the Cast.
        self.consts[outs[0]] = src

    def op_DENSIFY(self, op, ins, outs):
        src = self.consts.get(ins[0])
        if not isinstance(src, tuple):
            raise ConversionError("DENSIFY input is not a sparse constant")
        _, values, sparsity = src
        self.consts[outs[0]] = densify(values, self.shape(ins[0]), sparsity)

    def conv_pads(self, padding, in_hw, k_hw, strides, dilations):
        if padding == Padding.VALID:
            return [0, 0, 0, 0]
        (t, b), (l, r) = (
            same_pads(in_hw[d], k_hw[d], strides[d], dilations[d]) for d in range(2)
        )
        return [t, l, b, r]

    def conv_bias(self, ins):
        return [self.const(ins[2])] if len(ins) > 2 and ins[2] >= 0 else []

    def conv(self, op, ins, outs, options_type, to_onnx_weight, tag, group):
        o = options(op, options_type)
        w = self.consts[ins[1]]
        strides = [o.StrideH(), o.StrideW()]
        dil = [o.DilationHFactor(), o.DilationWFactor()]
        in_hw = self.shape(ins[0])[1:3]
        pads = self.conv_pads(o.Padding(), in_hw, w.shape[1:3], strides, dil)
        weight = self.const(ins[1], to_onnx_weight, tag)
        self.emit_with_activation(
            "Conv",
            [self.name(ins[0]), weight] + self.conv_bias(ins),
            outs[0],
            o.FusedActivationFunction(),
            kernel_shape=list(w.shape[1:3]),
            strides=strides,
            dilations=dil,
            pads=pads,
            group=group,
        )

    def op_CONV_2D(self, op, ins, outs):
        # OHWI → OIHW
        self.conv(op, ins, outs, tflite.Conv2DOptions, lambda a: a.transpose(0, 3, 1, 2), "oihw", 1)

    def op_DEPTHWISE_CONV_2D(self, op, ins, outs):
        # Weights 1HW(C·M): output channel c·M+m reads input channel c, exactly ONNX's grouped conv
        # with C groups.
        c_in = self.shape(ins[0])[3]
        self.conv(
            op, ins, outs, tflite.DepthwiseConv2DOptions, lambda a: a.transpose(3, 0, 1, 2), "dw", c_in
        )

    def op_CUSTOM_Convolution2DTransposeBias(self, op, ins, outs):
        # MediaPipe's op: custom options are TfLiteTransposeConvParams {padding, stride_w,
        # stride_h} as int32 (padding: 1 SAME, 2 VALID); weights OHWI, bias [O].
        padding, stride_w, stride_h = np.frombuffer(
            op.CustomOptionsAsNumpy().tobytes()[:12], dtype=np.int32
        )
        w = self.consts[ins[1]]
        in_hw = self.shape(ins[0])[1:3]
        out_hw = self.shape(outs[0])[1:3]
        k_hw = w.shape[1:3]
        strides = [int(stride_h), int(stride_w)]
        pads_begin, pads_end = [], []
        for d in range(2):
            full = strides[d] * (in_hw[d] - 1) + k_hw[d]
            total = full - out_hw[d]
            if total < 0 or (padding == 2 and total != 0):
                raise ConversionError(f"unexpected transpose-conv output size {out_hw}")
            pads_begin.append(total // 2)
            pads_end.append(total - total // 2)
        weight = self.const(ins[1], lambda a: a.transpose(3, 0, 1, 2), "iohw")
        self.node(
            "ConvTranspose",
            [self.name(ins[0]), weight, self.const(ins[2])],
            [self.name(outs[0])],
            kernel_shape=list(k_hw),
            strides=strides,
            pads=pads_begin + pads_end,
        )

    def pool(self, op_type, op, ins, outs):
        o = options(op, tflite.Pool2DOptions)
        k = [o.FilterHeight(), o.FilterWidth()]
        strides = [o.StrideH(), o.StrideW()]
        in_hw = self.shape(ins[0])[1:3]
        pads = self.conv_pads(o.Padding(), in_hw, k, strides, [1, 1])
        if op_type == "AveragePool" and k == in_hw and pads == [0, 0, 0, 0]:
            self.emit_with_activation(
                "GlobalAveragePool", [self.name(ins[0])], outs[0], o.FusedActivationFunction()
            )
            return
        # TFLite's average pool divides by the count of real (unpadded) pixels, as ONNX's
        # count_include_pad=0 does.
        self.emit_with_activation(
            op_type,
            [self.name(ins[0])],
            outs[0],
            o.FusedActivationFunction(),
            kernel_shape=k,
            strides=strides,
            pads=pads,
        )

    def op_AVERAGE_POOL_2D(self, op, ins, outs):
        self.pool("AveragePool", op, ins, outs)

    def op_MAX_POOL_2D(self, op, ins, outs):
        self.pool("MaxPool", op, ins, outs)

    def op_MEAN(self, op, ins, outs):
        axes = sorted(int(a) % self.rank(ins[0]) for a in self.consts[ins[1]].ravel())
        keep = options(op, tflite.ReducerOptions).KeepDims()
        if self.is_nchw(ins[0]) and axes == [1, 2] and keep:
            self.node("GlobalAveragePool", [self.name(ins[0])], [self.name(outs[0])])
            return
        if self.is_nchw(ins[0]) and keep:
            axes = [NHWC_AXIS_IN_NCHW[a] for a in axes]
            self.node("ReduceMean", [self.name(ins[0])], [self.name(outs[0])], axes=axes, keepdims=1)
            return
        if self.rank(ins[0]) == 4:
            raise ConversionError("MEAN without keep_dims on a rank-4 tensor")
        self.node("ReduceMean", [self.name(ins[0])], [self.name(outs[0])], axes=axes, keepdims=int(keep))

    def unary(self, op_type, ins, outs, **attrs):
        self.node(op_type, [self.name(ins[0])], [self.name(outs[0])], **attrs)

    def op_HARD_SWISH(self, op, ins, outs):
        self.unary("HardSwish", ins, outs)

    def op_RELU(self, op, ins, outs):
        self.unary("Relu", ins, outs)

    def op_RELU6(self, op, ins, outs):
        self.clip(self.name(ins[0]), self.name(outs[0]), 0.0, 6.0)

    def op_LOGISTIC(self, op, ins, outs):
        self.unary("Sigmoid", ins, outs)

    def op_TANH(self, op, ins, outs):
        self.unary("Tanh", ins, outs)

    def op_PRELU(self, op, ins, outs):
        self.node("PRelu", [self.name(ins[0]), self.operand(ins[1], ins[0])], [self.name(outs[0])])

    def operand(self, i, other):
        """An elementwise operand, with NHWC-broadcast constants laid out to match NCHW data."""
        if i not in self.consts:
            if self.is_nchw(other) and not self.is_nchw(i) and self.rank(i) > 0:
                raise ConversionError("elementwise op mixes NCHW data with a lower-rank tensor")
            return self.name(i)
        arr = self.consts[i]
        if self.is_nchw(other) and arr.ndim > 0 and arr.size > 1:
            arr4 = arr.reshape((1,) * (4 - arr.ndim) + arr.shape)
            return self.const(i, lambda a: arr4.transpose(NHWC_TO_NCHW), "nchw")
        return self.const(i)

    def binary(self, op_type, options_cls, op, ins, outs):
        fused = ActivationFunctionType.NONE
        if op.BuiltinOptions() is not None and options_cls is not None:
            fused = options(op, options_cls).FusedActivationFunction()
        a = self.operand(ins[0], ins[1])
        b = self.operand(ins[1], ins[0])
        self.emit_with_activation(op_type, [a, b], outs[0], fused)

    def op_ADD(self, op, ins, outs):
        self.binary("Add", tflite.AddOptions, op, ins, outs)

    def op_MUL(self, op, ins, outs):
        self.binary("Mul", tflite.MulOptions, op, ins, outs)

    def op_SUB(self, op, ins, outs):
        self.binary("Sub", tflite.SubOptions, op, ins, outs)

    def op_RESIZE_BILINEAR(self, op, ins, outs):
        o = options(op, tflite.ResizeBilinearOptions)
        if o.AlignCorners():
            mode = "align_corners"
        elif o.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        s = self.shape(outs[0])
        sizes = self.int64([s[0], s[3], s[1], s[2]], "sizes")
        self.node(
            "Resize",
            [self.name(ins[0]), "", "", sizes],
            [self.name(outs[0])],
            mode="linear",
            coordinate_transformation_mode=mode,
        )

    def op_PAD(self, op, ins, outs):
        p = self.consts[ins[1]].reshape(-1, 2).astype(np.int64)
        if self.is_nchw(ins[0]):
            p = p[NHWC_TO_NCHW]
        pads = self.int64(list(p[:, 0]) + list(p[:, 1]), "pads")
        self.node("Pad", [self.name(ins[0]), pads], [self.name(outs[0])], mode="constant")

    def to_nhwc_if_needed(self, i):
        """Data of tensor i in TFLite memory order (skips the transpose when it is a no-op)."""
        if not self.is_nchw(i):
            return self.name(i)
        _, h, w, c = self.shape(i)
        if c == 1 or h * w == 1:
            return self.name(i)  # NCHW and NHWC hold the same sequence of values
        return self.node("Transpose", [self.name(i)], perm=NCHW_TO_NHWC)

    def op_RESHAPE(self, op, ins, outs):
        out_shape = self.shape(outs[0])
        x = self.to_nhwc_if_needed(ins[0])
        if len(out_shape) == 4:
            n, h, w, c = out_shape
            if c == 1 or h * w == 1:
                self.node("Reshape", [x, self.int64([n, c, h, w])], [self.name(outs[0])])
            else:
                y = self.node("Reshape", [x, self.int64(out_shape)])
                self.node("Transpose", [y], [self.name(outs[0])], perm=NHWC_TO_NCHW)
            return
        self.node("Reshape", [x, self.int64(out_shape)], [self.name(outs[0])])

    def op_CONCATENATION(self, op, ins, outs):
        o = options(op, tflite.ConcatenationOptions)
        rank = self.rank(outs[0])
        axis = o.Axis() % rank
        if rank == 4:
            if not all(self.is_nchw(i) for i in ins):
                raise ConversionError("rank-4 concat of constants is not supported")
            axis = NHWC_AXIS_IN_NCHW[axis]
        self.emit_with_activation(
            "Concat", [self.name(i) for i in ins], outs[0], o.FusedActivationFunction(), axis=axis
        )

    def op_DEPTH_TO_SPACE(self, op, ins, outs):
        # TFLite's NHWC depth_to_space reads channel (i*bs + j)*C + c: ONNX's DCR mode.
        o = options(op, tflite.DepthToSpaceOptions)
        self.node(
            "DepthToSpace",
            [self.name(ins[0])],
            [self.name(outs[0])],
            blocksize=o.BlockSize(),
            mode="DCR",
        )


def write_atomic(dst, write):
    """Calls write(tmp) on a file beside dst and renames it, so a failed run never leaves a
    half-written model."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dst)), suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def convert_file(src, dst, output_names, input_name="input"):
    with open(src, "rb") as f:
        buf = f.read()
    model = Converter(buf, [input_name], output_names).convert()
    write_atomic(dst, lambda tmp: onnx.save(model, tmp))
    return model


def float_weights(model):
    """The model with every Cast of an fp16 initializer folded into a float32 initializer:
    ONNX Runtime's quantizer only quantizes a Conv whose weight is an initializer."""
    inits = {init.name: init for init in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        source = inits.get(node.input[0]) if node.op_type == "Cast" else None
        if source is not None and source.data_type == TensorProto.FLOAT16:
            values = numpy_helper.to_array(source).astype(np.float32)
            model.graph.initializer.append(numpy_helper.from_array(values, node.output[0]))
            model.graph.initializer.remove(source)
            del inits[source.name]
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


def pointwise_convs(model):
    """Names of the 1x1 ungrouped Conv nodes: what bodyzone's Precision::Int8 quantizes."""
    shapes = {init.name: list(init.dims) for init in model.graph.initializer}
    names = []
    for node in model.graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        weight = shapes.get(node.input[1]) if node.op_type == "Conv" else None
        if weight is not None and weight[2:] == [1, 1] and group == 1:
            names.append(node.name)
    return names


def quantize_file(src, dst):
    """ONNX Runtime's dynamic quantization (per output channel, int8 weights; u8 activations
    quantized per tensor at run time) of src's 1x1 convolutions, written to dst."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = float_weights(onnx.load(src))
    nodes = pointwise_convs(model)
    write_atomic(
        dst,
        lambda tmp: quantize_dynamic(
            model,
            tmp,
            op_types_to_quantize=["Conv"],
            nodes_to_quantize=nodes,
            per_channel=True,
            weight_type=QuantType.QInt8,
        ),
    )
    return len(nodes)


def default_outputs(src):
    base = os.path.basename(src)
    for tfl, _, outs in MODELS:
        if tfl == base:
            return outs
    model = tflite.Model.GetRootAsModel(open(src, "rb").read(), 0)
    n = model.Subgraphs(0).OutputsLength()
    return [f"output_{k}" for k in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("src", nargs="?", help="input .tflite")
    ap.add_argument("dst", nargs="?", help="output .onnx")
    ap.add_argument("--all", action="store_true", help="rebuild every committed model")
    ap.add_argument("--int8", action="store_true", help="rebuild the int8 files from the f32 ones")
    ap.add_argument("--only", help="with --all or --int8: comma-separated output file names to rebuild")
    ap.add_argument("--input", default="input", help="ONNX input name")
    ap.add_argument("--outputs", help="comma-separated ONNX output names, in TFLite order")
    args = ap.parse_args(argv)
    try:
        if args.all:
            only = set(args.only.split(",")) if args.only else None
            for tfl, out, names in MODELS:
                if only and out not in only:
                    continue
                dst = os.path.join(HERE, out)
                convert_file(os.path.join(SRC, tfl), dst, names)
                print(f"{out}: {os.path.getsize(dst)} bytes")
            return 0
        if args.int8:
            only = set(args.only.split(",")) if args.only else None
            for f32, out in INT8_MODELS:
                if only and out not in only:
                    continue
                dst = os.path.join(HERE, out)
                count = quantize_file(os.path.join(HERE, f32), dst)
                print(f"{out}: {count} convolutions quantized, {os.path.getsize(dst)} bytes")
            return 0
        if not args.src or not args.dst:
            ap.error("give SRC.tflite OUT.onnx, --all or --int8")
        names = args.outputs.split(",") if args.outputs else default_outputs(args.src)
        convert_file(args.src, args.dst, names, args.input)
        return 0
    except (ConversionError, OSError) as e:
        print(f"convert: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
