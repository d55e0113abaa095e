//! 1×1 convolutions on CHW planes with bias, activation and residual addition fused:
//! [`Pointwise`].
//!
//! After decluttering, tract runs a 1×1 convolution as an `EinSum` (`IHW,OI->OHW`) that it
//! optimises into a packing pass over the whole input (`OptMatMulPack`) and a matrix product,
//! followed by separate passes for the bias, the activation and a residual `Add`: 40% of the
//! landscape model's time. In CHW the input is already a `[I, H·W]` matrix whose rows are
//! contiguous, so the kernel reads it in place: a tile of 4 output channels × 16 pixels (two
//! AVX2 or four NEON vectors per channel, eight or sixteen accumulators) is the sum over input
//! channels of four broadcast weights times 16 consecutive inputs. The weights are packed once,
//! at rewrite time, four output channels interleaved. The epilogue applies the activation, adds
//! the residual and stores: one pass over the output instead of four.
//!
//! [`rewrite`] swaps the op into a decluttered model; the tests compare it with tract's own
//! `EinSum`, `Add` and activations on random shapes.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::{Add, Max};
use tract_onnx::tract_core::ops::nn::HardSwish;

use super::custom::{
    Replacement, WriteOutput, eval_op, f32s, replace_matches, residual, with_residual,
};
use super::kernel::{Activation, Simd, dispatch};

/// Output channels per block.
const ROWS: usize = 4;
/// Pixels per block at most: 4 vectors of 8 lanes.
const MAX_WIDTH: usize = 32;

/// `[I, H, W]` or `[1, I, H, W]` f32 → `[O, H, W]` or `[1, O, H, W]`: `act(W·x + bias)
/// (+ residual)`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Pointwise {
    pub in_channels: usize,
    pub out_channels: usize,
    /// `[⌈O/4⌉, I, 4]`: blocks of four output channels, zero rows past `O`.
    pub packed: Arc<Tensor>,
    /// `[⌈O/4⌉·4]`, zero past `O`.
    pub bias: Arc<Tensor>,
    pub activation: Activation,
    /// A second input of the output's shape is added last.
    pub residual: bool,
    /// The output has a leading batch axis of 1.
    pub batch: bool,
}

impl Pointwise {
    /// `weights` is `[O, I]`, row-major.
    pub fn new(
        weights: &[f32],
        bias: &[f32],
        in_channels: usize,
        activation: Activation,
        residual: bool,
    ) -> Pointwise {
        let out_channels = bias.len();
        let blocks = out_channels.div_ceil(ROWS);
        let mut packed = vec![0f32; blocks * in_channels * ROWS];
        for (o, row) in weights.chunks_exact(in_channels).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                packed[((o / ROWS) * in_channels + i) * ROWS + o % ROWS] = w;
            }
        }
        let mut padded_bias = bias.to_vec();
        padded_bias.resize(blocks * ROWS, 0.0);
        Pointwise {
            in_channels,
            out_channels,
            packed: tensor1(&packed).into_arc_tensor(),
            bias: tensor1(&padded_bias).into_arc_tensor(),
            activation,
            residual,
            batch: false,
        }
    }
}

/// `Op::info` of a 1×1 convolution, ours or its int8 twin (`kind`, e.g. ` int8`).
pub(super) fn describe(
    (in_channels, out_channels): (usize, usize),
    kind: &str,
    activation: Activation,
    residual: bool,
) -> Vec<String> {
    vec![format!(
        "{in_channels}→{out_channels}{kind} {activation:?}{}",
        if residual { " +residual" } else { "" }
    )]
}

/// The output shape of a 1×1 convolution on `inputs` (the residual input checked).
pub(super) fn shape_for(
    inputs: &[TValue],
    (in_channels, out_channels): (usize, usize),
    batch: bool,
    residual: bool,
) -> TractResult<TVec<usize>> {
    let input = &inputs[0];
    let rank = input.rank();
    ensure!(rank >= 3 && input.shape()[rank - 3] == in_channels);
    let mut shape: TVec<usize> = input.shape()[rank - 3..].into();
    shape[0] = out_channels;
    if batch {
        shape.insert(0, 1);
    }
    with_residual(inputs, residual, shape)
}

/// `TypedOp::output_facts` of a 1×1 convolution.
pub(super) fn facts_for(
    inputs: &[&TypedFact],
    out_channels: usize,
    batch: bool,
) -> TractResult<TVec<TypedFact>> {
    let input = inputs[0];
    ensure!(input.datum_type == f32::datum_type() && input.rank() >= 3);
    let rank = input.rank();
    let mut shape = tvec![
        out_channels.to_dim(),
        input.shape[rank - 2].clone(),
        input.shape[rank - 1].clone()
    ];
    if batch {
        shape.insert(0, 1.to_dim());
    }
    Ok(tvec!(f32::fact(shape)))
}

impl Op for Pointwise {
    fn name(&self) -> StaticName {
        "Pointwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(describe(
            (self.in_channels, self.out_channels),
            "",
            self.activation,
            self.residual,
        ))
    }

    op_as_typed_op!();
}

eval_op!(Pointwise);

impl WriteOutput for Pointwise {
    fn output_shape(&self, inputs: &[TValue]) -> TractResult<TVec<usize>> {
        shape_for(
            inputs,
            (self.in_channels, self.out_channels),
            self.batch,
            self.residual,
        )
    }

    fn write(
        &self,
        inputs: &[TValue],
        output: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> TractResult<()> {
        let input = &inputs[0];
        let rank = input.rank();
        pointwise(
            self.in_channels,
            input.shape()[rank - 2] * input.shape()[rank - 1],
            f32s(input)?,
            f32s(&self.packed)?,
            f32s(&self.bias)?,
            self.activation,
            residual(inputs, self.residual)?,
            scratch,
            output,
        );
        Ok(())
    }
}

impl TypedOp for Pointwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        facts_for(inputs, self.out_channels, self.batch)
    }

    as_op!();
}

dispatch! {
    /// `dst[o, p] = act(bias[o] + Σ_i W[o, i] · src[i, p]) + residual[o, p]` for `p < pixels`,
    /// with `W` packed as in [`Pointwise::packed`] and `dst` holding `O` channels.
    #[allow(clippy::too_many_arguments)]
    pub fn pointwise / pointwise_portable = pointwise_generic(
        in_channels: usize,
        pixels: usize,
        src: &[f32],
        packed: &[f32],
        bias: &[f32],
        activation: Activation,
        residual: Option<&[f32]>,
        scratch: &mut Vec<f32>,
        dst: &mut [f32],
    )
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pointwise_generic<S: Simd>(
    s: S,
    k: usize,
    n: usize,
    src: &[f32],
    packed: &[f32],
    bias: &[f32],
    activation: Activation,
    residual: Option<&[f32]>,
    scratch: &mut Vec<f32>,
    dst: &mut [f32],
) {
    // The 4 × C accumulators take half the registers (8 of AVX2's 16, 16 of NEON's 32): with
    // the inputs and the broadcast weights in the other half, nothing is spilled. (4 × 3 on
    // AVX2 spilled and ran at half the speed.)
    if S::REGISTERS >= 32 {
        pointwise_blocks::<S, 4>(
            s, k, n, src, packed, bias, activation, residual, scratch, dst,
        )
    } else {
        pointwise_blocks::<S, 2>(
            s, k, n, src, packed, bias, activation, residual, scratch, dst,
        )
    }
}

/// [`pointwise`] in blocks of [`ROWS`] output channels × `C` vectors of pixels.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pointwise_blocks<S: Simd, const C: usize>(
    s: S,
    k: usize,
    n: usize,
    src: &[f32],
    packed: &[f32],
    bias: &[f32],
    activation: Activation,
    residual: Option<&[f32]>,
    scratch: &mut Vec<f32>,
    dst: &mut [f32],
) {
    let out_channels = dst.len() / n;
    let blocks = out_channels.div_ceil(ROWS);
    let width = C * S::LANES;
    assert!(src.len() >= k * n && packed.len() == blocks * k * ROWS && bias.len() >= blocks * ROWS);
    assert!(residual.is_none_or(|r| r.len() == dst.len()));
    // Pixels are taken in strips whose `k` input rows fit in L1 (16 KiB), all output channels
    // of a strip before the next. The strip is copied into a contiguous panel first: in place,
    // its rows are `n` values apart, and for the 72×128 planes (n·4 bytes = 9 × 4 KiB) every
    // row's values fell into the same L1 set and evicted each other. The panel is zero-padded
    // to whole tiles, so the kernel always reads full vectors; the results of a short tile (of
    // pixels or channels) are staged before the store.
    let strip = (4096 / k).div_ceil(width).max(1) * width;
    scratch.clear();
    scratch.resize(k * strip, 0.0);
    let panel = scratch;
    let mut staged = [0f32; ROWS * MAX_WIDTH];
    let staged = &mut staged[..ROWS * width];
    for s0 in (0..n).step_by(strip) {
        let len = strip.min(n - s0);
        let stride = len.div_ceil(width) * width;
        for (i, row) in panel.chunks_exact_mut(stride).take(k).enumerate() {
            row[..len].copy_from_slice(&src[i * n + s0..][..len]);
            row[len..].fill(0.0);
        }
        for (block, weights) in packed.chunks_exact(k * ROWS).enumerate() {
            for t0 in (0..len).step_by(width) {
                let (cols, p0) = (width.min(len - t0), s0 + t0);
                let xs = &panel[t0..];
                let mut acc: [[S::V; C]; ROWS] =
                    std::array::from_fn(|r| [s.splat(bias[block * ROWS + r]); C]);
                for (i, w) in weights.chunks_exact(ROWS).enumerate() {
                    // SAFETY: row `i` of the panel (`k` rows of `stride`, a multiple of `width`)
                    // has `width` values from `t0 + i · stride`.
                    let x: [S::V; C] = std::array::from_fn(|c| unsafe {
                        s.load(xs.as_ptr().add(i * stride + c * S::LANES))
                    });
                    for (r, &w) in w.iter().enumerate() {
                        let w = s.splat(w);
                        for c in 0..C {
                            acc[r][c] = s.mul_add(w, x[c], acc[r][c]);
                        }
                    }
                }
                let rows = ROWS.min(out_channels - block * ROWS);
                if cols == width && rows == ROWS {
                    for (r, row) in acc.iter().enumerate() {
                        let at = (block * ROWS + r) * n + p0;
                        for (c, &a) in row.iter().enumerate() {
                            let mut v = activation.apply(s, a);
                            let at = at + c * S::LANES;
                            if let Some(res) = residual {
                                // SAFETY: a full tile of channel `o` ends at
                                // `at + LANES ≤ (o + 1)·n ≤ res.len()`.
                                v = s.add(v, unsafe { s.load(res.as_ptr().add(at)) });
                            }
                            // SAFETY: as above, within `dst`.
                            unsafe { s.store(dst.as_mut_ptr().add(at), v) };
                        }
                    }
                    continue;
                }
                for (r, row) in acc.iter().enumerate() {
                    for (c, &a) in row.iter().enumerate() {
                        // SAFETY: `staged` holds `ROWS × width` values.
                        unsafe {
                            let at = staged.as_mut_ptr().add(r * width + c * S::LANES);
                            s.store(at, activation.apply(s, a))
                        };
                    }
                }
                for (r, staged) in staged.chunks_exact(width).take(rows).enumerate() {
                    let at = (block * ROWS + r) * n + p0;
                    let out = &mut dst[at..at + cols];
                    match residual {
                        Some(res) => {
                            for ((d, &v), &r) in out.iter_mut().zip(staged).zip(&res[at..]) {
                                *d = v + r;
                            }
                        }
                        None => out.copy_from_slice(&staged[..cols]),
                    }
                }
            }
        }
    }
}

/// The activation applied to node `id`'s only output by its only consumer, and the node whose
/// output is then the fused result: `(Relu | HardSwish, consumer)` or `(Identity, id)`.
pub(crate) fn fused_activation(model: &TypedModel, id: usize) -> TractResult<(Activation, usize)> {
    let Some(next) = only_consumer(model, id) else {
        return Ok((Activation::Identity, id));
    };
    let node = model.node(next);
    if node
        .op_as::<ElementWiseOp>()
        .is_some_and(|op| op.0.is::<HardSwish>())
    {
        return Ok((Activation::HardSwish, next));
    }
    if node
        .op_as::<TypedBinOp>()
        .is_some_and(|op| op.0.is::<Max>())
    {
        let other = node.inputs.iter().find(|i| i.node != id);
        let zero = other
            .and_then(|o| model.outlet_fact(*o).ok())
            .and_then(|f| f.konst.clone())
            .is_some_and(|k| k.len() == 1 && k.cast_to_scalar::<f32>().is_ok_and(|v| v == 0.0));
        if zero && node.inputs.len() == 2 {
            return Ok((Activation::Relu, next));
        }
    }
    Ok((Activation::Identity, id))
}

/// The node reading node `id`'s single output, when it is the only reader and the output is not
/// a model output.
pub(crate) fn only_consumer(model: &TypedModel, id: usize) -> Option<usize> {
    let node = model.node(id);
    let outlet = OutletId::new(id, 0);
    if node.outputs.len() != 1
        || node.outputs[0].successors.len() != 1
        || model.output_outlets().ok()?.contains(&outlet)
    {
        return None;
    }
    let next = node.outputs[0].successors[0].node;
    (model
        .node(next)
        .inputs
        .iter()
        .filter(|i| **i == outlet)
        .count()
        == 1)
        .then_some(next)
}

/// The constant `Add` operand of node `id` (other than `from`'s output), if `id` is an `Add`.
fn add_operand(model: &TypedModel, id: usize, from: usize) -> Option<OutletId> {
    let node = model.node(id);
    let add = node.op_as::<TypedBinOp>()?;
    if !add.0.is::<Add>() || node.inputs.len() != 2 {
        return None;
    }
    node.inputs.iter().find(|i| i.node != from).copied()
}

/// The other operand of the `Add` that is the only consumer of node `id`'s output, when the
/// operand and the sum have that output's shape: `(operand, add)`, a residual connection a
/// convolution can add in its epilogue.
pub(crate) fn fused_residual(
    model: &TypedModel,
    id: usize,
) -> TractResult<Option<(OutletId, usize)>> {
    let shape = &model.outlet_fact(OutletId::new(id, 0))?.shape;
    if let Some(next) = only_consumer(model, id)
        && let Some(operand) = add_operand(model, next, id)
        && model.outlet_fact(operand)?.shape == *shape
        && model.outlet_fact(OutletId::new(next, 0))?.shape == *shape
        && model.outlet_fact(operand)?.datum_type == f32::datum_type()
    {
        return Ok(Some((operand, next)));
    }
    Ok(None)
}

/// Replaces every f32 `EinSum` `IHW,OI->OHW` (or with a batch axis `N = 1` on either side:
/// `NIHW`, `NOHW`) with constant weights, followed by the `Add` of a constant bias, by a
/// [`Pointwise`], fusing a following `Relu`/`HardSwish`, then a residual `Add`. Returns how many
/// were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    replace_matches(model, replacement)
}

fn replacement(model: &TypedModel, id: usize) -> TractResult<Option<Replacement<Pointwise>>> {
    let node = model.node(id);
    let Some(einsum) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    let expr = einsum.axes.to_string();
    let input = model.outlet_fact(node.inputs[0])?;
    let Some((from, to)) = expr.split_once(",OI->") else {
        return Ok(None);
    };
    let batch_of_one = from != "NIHW" || input.shape[0] == 1.to_dim();
    if einsum.q_params.is_some()
        || input.datum_type != f32::datum_type()
        || !matches!(from, "IHW" | "NIHW")
        || !matches!(to, "OHW" | "NOHW")
        || !batch_of_one
        || node.inputs.len() != 2
    {
        return Ok(None);
    }
    let Some(weights) = model.outlet_fact(node.inputs[1])?.konst.clone() else {
        return Ok(None);
    };
    let &[out_channels, in_channels] = weights.shape() else {
        return Ok(None);
    };
    // The bias, when the only consumer adds a constant [O, 1, 1], [1, O, 1, 1] or [O].
    let mut last = id;
    let mut bias = vec![0f32; out_channels];
    if let Some(next) = only_consumer(model, id)
        && let Some(operand) = add_operand(model, next, id)
        && let Some(k) = model.outlet_fact(operand)?.konst.clone()
        && k.len() == out_channels
        && k.rank() <= 4
        && k.shape().iter().filter(|&&d| d != 1).count() <= 1
        && k.datum_type() == f32::datum_type()
    {
        bias.copy_from_slice(k.try_as_plain_ram()?.as_slice::<f32>()?);
        last = next;
    }
    let (activation, after_activation) = fused_activation(model, last)?;
    let residual = fused_residual(model, after_activation)?;
    let last = residual.map_or(after_activation, |(_, add)| add);
    let op = Pointwise {
        batch: to == "NOHW",
        ..Pointwise::new(
            weights.try_as_plain_ram()?.as_slice::<f32>()?,
            &bias,
            in_channels,
            activation,
            residual.is_some(),
        )
    };
    let mut inputs = tvec!(node.inputs[0]);
    inputs.extend(residual.map(|(operand, _)| operand));
    Ok(Some(Replacement { op, inputs, last }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel::testing::{random, values};
    use proptest::prelude::*;
    use tract_onnx::tract_core::ops::math::{add, max};
    use tract_onnx::tract_core::ops::nn::hard_swish;

    type Kernel = fn(
        usize,
        usize,
        &[f32],
        &[f32],
        &[f32],
        Activation,
        Option<&[f32]>,
        &mut Vec<f32>,
        &mut [f32],
    );

    /// `EinSum`, bias `Add`, an activation and maybe a residual `Add` of a second input, as the
    /// decluttered selfie models have them; `batch`: the `EinSum` adds a batch axis of 1
    /// (`IHW,OI->NOHW`), as in the selfie decoders.
    fn reference_model(
        (i, o): (usize, usize),
        (h, w): (usize, usize),
        (activation, residual, batch): (Activation, bool, bool),
        seed: u64,
    ) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([i, h, w])).unwrap();
        let weights = model.add_const("w", random(&[o, i], seed)).unwrap();
        let shape = |s: &[usize]| {
            if batch {
                [&[1], s].concat()
            } else {
                s.to_vec()
            }
        };
        let bias = random(&shape(&[o, 1, 1]), seed ^ 99);
        let bias = model.add_const("b", bias).unwrap();
        let expr = if batch { "IHW,OI->NOHW" } else { "IHW,OI->OHW" };
        let einsum = EinSum {
            axes: expr.parse().unwrap(),
            operating_dt: f32::datum_type(),
            q_params: None,
        };
        let y = model.wire_node("conv", einsum, &[x, weights]).unwrap();
        let mut y = model.wire_node("bias", add(), &[y[0], bias]).unwrap();
        match activation {
            Activation::Identity => {}
            Activation::Relu => {
                let zero = Tensor::zero::<f32>(&shape(&[1, 1, 1])).unwrap();
                let zero = model.add_const("zero", zero).unwrap();
                y = model.wire_node("relu", max(), &[y[0], zero]).unwrap();
            }
            Activation::HardSwish => y = model.wire_node("hswish", hard_swish(), &y).unwrap(),
        }
        if residual {
            let skip = model
                .add_source("skip", f32::fact(shape(&[o, h, w])))
                .unwrap();
            y = model.wire_node("residual", add(), &[y[0], skip]).unwrap();
        }
        model.select_output_outlets(&y).unwrap();
        model
    }

    fn run(model: TypedModel, inputs: &[Tensor]) -> Tensor {
        let plan = model.into_runnable().unwrap();
        let inputs = inputs.iter().map(|t| t.clone().into_tvalue()).collect();
        plan.run(inputs).unwrap()[0].clone().into_tensor()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_tract_einsum_bias_and_activation(
            i in 1usize..40, o in 1usize..30, h in 1usize..6, w in 1usize..40,
            activation in 0usize..3, residual in any::<bool>(), batch in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let activation = [Activation::Identity, Activation::Relu, Activation::HardSwish][activation];
            let reference = reference_model((i, o), (h, w), (activation, residual, batch), seed);
            let mut inputs = vec![random(&[i, h, w], !seed)];
            if residual {
                let shape = if batch { vec![1, o, h, w] } else { vec![o, h, w] };
                inputs.push(random(&shape, seed.rotate_left(7)));
            }
            let expected = run(reference.clone(), &inputs);
            let mut ours = reference;
            prop_assert_eq!(rewrite(&mut ours).unwrap(), 1);
            prop_assert_eq!(ours.nodes().len(), inputs.len() + 1, "not all fused");
            let got = run(ours, &inputs);
            prop_assert_eq!(got.shape(), expected.shape());
            got.close_enough(&expected, Approximation::Approximate).unwrap();
        }

        #[test]
        fn portable_and_simd_builds_agree(
            i in 1usize..40, o in 1usize..30, n in 1usize..100, residual in any::<bool>(), seed in any::<u64>(),
        ) {
            let src = random(&[i, n], seed);
            let weights = random(&[o, i], !seed);
            let bias = random(&[o], 3);
            let res = random(&[o, n], 5);
            let op = Pointwise::new(values(&weights), values(&bias), i, Activation::HardSwish, residual);
            let go = |f: Kernel| {
                let mut out = vec![0f32; o * n];
                f(i, n, values(&src), values(&op.packed), values(&op.bias),
                  op.activation, residual.then(|| values(&res)), &mut Vec::new(), &mut out);
                out
            };
            let (a, b) = (go(pointwise), go(pointwise_portable));
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}
