//! Convolutions with few input channels per group (the depthwise 3×3 and 5×5 convolutions of the
//! selfie models, and their 3-channel stem), with bias and activation fused: [`SpatialConv`].
//!
//! tract's `DepthWiseConv` walks the kernel through a generic patch iterator: 37% of the landscape
//! model's time at about 1 GMAC/s. Here each input plane is copied once into a zero-padded
//! scratch plane whose rows are split by column phase (for stride 2: even columns, then odd
//! columns), so every tap of every stride reads a contiguous run of inputs. An output row is then
//! computed 16 outputs at a time with the accumulators in vector registers: per tap one broadcast
//! weight and 16 multiply-adds, no bounds or padding test inside the loop. Bias and activation are
//! applied before the store, which removes the separate `Max`/`HardSwish` pass over the tensor.
//!
//! [`rewrite`] swaps the op into a decluttered model; the tests compare it with tract's `Conv`
//! followed by tract's activation on random shapes, weights and inputs.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

use super::kernel::{Activation, dispatch, madd};
use super::pointwise::fused_activation;

/// Outputs computed per inner loop: two AVX registers, four NEON registers.
const LANES: usize = 16;

/// The shape parameters of a [`SpatialConv`].
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub struct Geometry {
    pub in_channels: usize,
    pub out_channels: usize,
    pub group: usize,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal stride.
    pub stride: (usize, usize),
    /// Zero padding before the first row and column (the padding after is implied by the
    /// output size).
    pub pad: (usize, usize),
}

impl Geometry {
    fn in_per_group(&self) -> usize {
        self.in_channels / self.group
    }

    /// Output height and width for an input of `h × w` with `after` padding below and right.
    fn output_size(&self, (h, w): (usize, usize), after: (usize, usize)) -> (usize, usize) {
        (
            (h + self.pad.0 + after.0 - self.kernel.0) / self.stride.0 + 1,
            (w + self.pad.1 + after.1 - self.kernel.1) / self.stride.1 + 1,
        )
    }
}

/// Grouped 2-D convolution of a `[C, H, W]` or `[1, C, H, W]` f32 tensor, weights `OIHW`, then
/// bias and activation.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct SpatialConv {
    pub geometry: Geometry,
    /// Output height and width, fixed when the op is wired.
    pub output_size: (usize, usize),
    /// `[out_channels, in_channels / group, kh, kw]`.
    pub kernel: Arc<Tensor>,
    /// `[out_channels]`.
    pub bias: Arc<Tensor>,
    pub activation: Activation,
}

impl Op for SpatialConv {
    fn name(&self) -> StaticName {
        "SpatialConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?} {:?}", self.geometry, self.activation)])
    }

    op_as_typed_op!();
}

impl EvalOp for SpatialConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let rank = input.rank();
        let (h, w) = (input.shape()[rank - 2], input.shape()[rank - 1]);
        let mut shape: TVec<usize> = input.shape().into();
        shape[rank - 3] = self.geometry.out_channels;
        shape[rank - 2] = self.output_size.0;
        shape[rank - 1] = self.output_size.1;
        let mut output = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        let mut scratch = Vec::new();
        spatial_conv(
            &self.geometry,
            (h, w),
            self.output_size,
            input.try_as_plain_ram()?.as_slice::<f32>()?,
            self.kernel.try_as_plain_ram()?.as_slice::<f32>()?,
            self.bias.try_as_plain_ram()?.as_slice::<f32>()?,
            self.activation,
            &mut scratch,
            output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        );
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for SpatialConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        ensure!(input.datum_type == f32::datum_type() && (input.rank() == 3 || input.rank() == 4));
        let rank = input.rank();
        let mut shape: TVec<TDim> = input.shape.iter().cloned().collect();
        shape[rank - 3] = self.geometry.out_channels.into();
        shape[rank - 2] = self.output_size.0.into();
        shape[rank - 1] = self.output_size.1.into();
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

dispatch! {
    /// `dst[co, oy, ox] = act(bias[co] + Σ kernel[co, ci, ky, kx] · src[g·cpg + ci, oy·sh + ky − pt,
    /// ox·sw + kx − pl])`, zero outside the input. `scratch` is reused between calls.
    #[allow(clippy::too_many_arguments)]
    pub fn spatial_conv / spatial_conv_portable = spatial_conv_generic(
        g: &Geometry,
        input_size: (usize, usize),
        output_size: (usize, usize),
        src: &[f32],
        kernel: &[f32],
        bias: &[f32],
        activation: Activation,
        scratch: &mut Vec<f32>,
        dst: &mut [f32],
    )
}

#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn spatial_conv_generic<const FMA: bool>(
    g: &Geometry,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    src: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    scratch: &mut Vec<f32>,
    dst: &mut [f32],
) {
    let (kh, kw) = g.kernel;
    let (sh, sw) = g.stride;
    let (pt, pl) = g.pad;
    // A padded row is `sw` phases of `phase_len` values; column j of the padded input is at
    // phase j % sw, index j / sw, so tap kx of output ox reads phase kx % sw at ox + kx / sw.
    let phase_len = ow.div_ceil(LANES) * LANES + (kw - 1) / sw + 1;
    let row_len = sw * phase_len;
    let rows = (oh - 1) * sh + kh;
    let plane_len = rows * row_len;
    scratch.clear();
    scratch.resize(g.in_channels * plane_len, 0.0);
    for (plane, padded) in src
        .chunks_exact(h * w)
        .zip(scratch.chunks_exact_mut(plane_len))
    {
        for (y, line) in plane.chunks_exact(w).enumerate() {
            let Some(row) = padded.get_mut((y + pt) * row_len..(y + pt + 1) * row_len) else {
                break;
            };
            if sw == 1 {
                let n = w.min(phase_len - pl);
                row[pl..pl + n].copy_from_slice(&line[..n]);
            } else {
                for (x, &v) in line.iter().enumerate() {
                    let j = x + pl;
                    if j / sw < phase_len {
                        row[(j % sw) * phase_len + j / sw] = v;
                    }
                }
            }
        }
    }
    let cpg = g.in_per_group();
    let out_per_group = g.out_channels / g.group;
    let taps = kh * kw;
    for (co, out_plane) in dst.chunks_exact_mut(oh * ow).enumerate() {
        let first_in = (co / out_per_group) * cpg;
        let weights = &kernel[co * cpg * taps..][..cpg * taps];
        for (oy, out_row) in out_plane.chunks_exact_mut(ow).enumerate() {
            for x0 in (0..ow).step_by(LANES) {
                let mut acc = [bias[co]; LANES];
                for ci in 0..cpg {
                    let padded = &scratch[(first_in + ci) * plane_len..][..plane_len];
                    let weights = &weights[ci * taps..][..taps];
                    for ky in 0..kh {
                        let row = &padded[(oy * sh + ky) * row_len..][..row_len];
                        for kx in 0..kw {
                            let wv = weights[ky * kw + kx];
                            let start = (kx % sw) * phase_len + x0 + kx / sw;
                            let xs: &[f32; LANES] = row[start..start + LANES].try_into().unwrap();
                            for i in 0..LANES {
                                acc[i] = madd::<FMA>(wv, xs[i], acc[i]);
                            }
                        }
                    }
                }
                let n = LANES.min(ow - x0);
                for (o, a) in out_row[x0..x0 + n].iter_mut().zip(acc) {
                    *o = activation.apply(a);
                }
            }
        }
    }
}

/// Replaces every f32 grouped convolution with constant weights and at most 4 input channels per
/// group (depthwise convolutions, and stems on RGB) by a [`SpatialConv`], fusing a following
/// `Relu` or `HardSwish` that is the convolution's only consumer. Returns how many were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let Some(op) = spatial_conv_for(model, id)? else {
            continue;
        };
        let node = model.node(id);
        let (activation, last) = fused_activation(model, id)?;
        let mut patch = TypedModelPatch::default();
        let input = patch.tap_model(model, node.inputs[0])?;
        let op = SpatialConv { activation, ..op };
        let out = patch.wire_node(&node.name, op, &[input])?;
        patch.shunt_outside(model, OutletId::new(last, 0), out[0])?;
        patch.apply(model)?;
        replaced += 1;
    }
    if replaced > 0 {
        model.compact()?;
    }
    Ok(replaced)
}

/// The [`SpatialConv`] (without activation) that computes node `id`, if it is a convolution this
/// op covers.
fn spatial_conv_for(model: &TypedModel, id: usize) -> TractResult<Option<SpatialConv>> {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &conv.pool_spec;
    let input = model.outlet_fact(node.inputs[0])?;
    let output = model.outlet_fact(OutletId::new(id, 0))?;
    let plain_layout = match spec.data_format {
        DataFormat::CHW => input.rank() == 3,
        DataFormat::NCHW => input.rank() == 4 && input.shape[0] == 1.to_dim(),
        _ => false,
    };
    if conv.q_params.is_some()
        || conv.kernel_fmt != KernelFormat::OIHW
        || input.datum_type != f32::datum_type()
        || !plain_layout
        || spec.kernel_shape.len() != 2
        || spec
            .dilations
            .as_ref()
            .is_some_and(|d| d.iter().any(|&d| d != 1))
        || spec.input_channels / conv.group > 4
        || node.inputs.len() != 3
    {
        return Ok(None);
    }
    let (Some(kernel), Some(bias)) = (
        model.outlet_fact(node.inputs[1])?.konst.clone(),
        model.outlet_fact(node.inputs[2])?.konst.clone(),
    ) else {
        return Ok(None);
    };
    let (before, after): (TVec<usize>, TVec<usize>) = match &spec.padding {
        PaddingSpec::Explicit(b, a) => (b.clone(), a.clone()),
        PaddingSpec::Valid => (tvec!(0, 0), tvec!(0, 0)),
        _ => return Ok(None),
    };
    let rank = input.rank();
    let (Ok(h), Ok(w), Ok(oh), Ok(ow)) = (
        input.shape[rank - 2].to_usize(),
        input.shape[rank - 1].to_usize(),
        output.shape[rank - 2].to_usize(),
        output.shape[rank - 1].to_usize(),
    ) else {
        return Ok(None);
    };
    let strides = spec.strides.clone().unwrap_or_else(|| tvec!(1, 1));
    let geometry = Geometry {
        in_channels: spec.input_channels,
        out_channels: spec.output_channels,
        group: conv.group,
        kernel: (spec.kernel_shape[0], spec.kernel_shape[1]),
        stride: (strides[0], strides[1]),
        pad: (before[0], before[1]),
    };
    let bias = if bias.len() == 1 && geometry.out_channels > 1 {
        bias.broadcast_scalar_to_shape(&[geometry.out_channels])?
    } else {
        bias.into_tensor()
    };
    if geometry.output_size((h, w), (after[0], after[1])) != (oh, ow)
        || kernel.datum_type() != f32::datum_type()
        || bias.datum_type() != f32::datum_type()
        || bias.len() != geometry.out_channels
    {
        return Ok(None);
    }
    Ok(Some(SpatialConv {
        geometry,
        output_size: (oh, ow),
        kernel: kernel.into_arc_tensor(),
        bias: bias.into_arc_tensor(),
        activation: Activation::Identity,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel::testing::{random, values};
    use proptest::prelude::*;
    use tract_onnx::tract_core::ops::cnn::PoolSpec;
    use tract_onnx::tract_core::ops::math::max;
    use tract_onnx::tract_core::ops::nn::hard_swish;

    #[derive(Debug, Clone)]
    struct Case {
        geometry: Geometry,
        after: (usize, usize),
        size: (usize, usize),
        activation: Activation,
        seed: u64,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            prop_oneof![Just((1, 0)), Just((3, 1)), Just((5, 2))],
            1usize..=2,
            1usize..=2,
            0usize..3,
            prop_oneof![Just(true), Just(false)],
            (1usize..=6, 1usize..=40),
            any::<u64>(),
        )
            .prop_filter_map(
                "input smaller than the kernel",
                |((k, pad), sh, sw, act, depthwise, (c, w), seed)| {
                    let (in_channels, out_channels, group) =
                        if depthwise { (c, c, c) } else { (3, c, 1) };
                    let size = (k + (w % 7), w.max(k));
                    let geometry = Geometry {
                        in_channels,
                        out_channels,
                        group,
                        kernel: (k, k),
                        stride: (sh, sw),
                        pad: (pad, pad),
                    };
                    let activation = [
                        Activation::Identity,
                        Activation::Relu,
                        Activation::HardSwish,
                    ][act];
                    Some(Case {
                        geometry,
                        after: (pad, pad),
                        size,
                        activation,
                        seed,
                    })
                },
            )
    }

    type Kernel = fn(
        &Geometry,
        (usize, usize),
        (usize, usize),
        &[f32],
        &[f32],
        &[f32],
        Activation,
        &mut Vec<f32>,
        &mut [f32],
    );

    /// tract's `Conv` and activation for `case`, as a model with one CHW input.
    fn reference_model(case: &Case) -> TypedModel {
        let g = &case.geometry;
        let mut model = TypedModel::default();
        let (h, w) = case.size;
        let x = model
            .add_source("x", f32::fact([g.in_channels, h, w]))
            .unwrap();
        let kernel = random(
            &[g.out_channels, g.in_per_group(), g.kernel.0, g.kernel.1],
            case.seed,
        );
        let bias = random(&[g.out_channels], case.seed ^ 0x5555);
        let k = model.add_const("k", kernel).unwrap();
        let b = model.add_const("b", bias).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::CHW,
                kernel_shape: tvec!(g.kernel.0, g.kernel.1),
                padding: PaddingSpec::Explicit(
                    tvec!(g.pad.0, g.pad.1),
                    tvec!(case.after.0, case.after.1),
                ),
                dilations: None,
                strides: Some(tvec!(g.stride.0, g.stride.1)),
                input_channels: g.in_channels,
                output_channels: g.out_channels,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: g.group,
            q_params: None,
        };
        let mut y = model.wire_node("conv", conv, &[x, k, b]).unwrap();
        match case.activation {
            Activation::Identity => {}
            Activation::Relu => {
                let zero = model.add_const("zero", tensor3(&[[[0f32]]])).unwrap();
                y = model.wire_node("relu", max(), &[y[0], zero]).unwrap();
            }
            Activation::HardSwish => {
                y = model.wire_node("hswish", hard_swish(), &y).unwrap();
            }
        }
        model.select_output_outlets(&y).unwrap();
        model
    }

    fn run(model: TypedModel, input: &Tensor) -> Tensor {
        let plan = model.into_runnable().unwrap();
        plan.run(tvec!(input.clone().into_tvalue())).unwrap()[0]
            .clone()
            .into_tensor()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_tract_conv_and_activation(case in case()) {
            let reference = reference_model(&case);
            let g = &case.geometry;
            let input = random(&[g.in_channels, case.size.0, case.size.1], !case.seed);
            let expected = run(reference.clone(), &input);
            let mut ours = reference;
            prop_assert_eq!(rewrite(&mut ours).unwrap(), 1);
            prop_assert_eq!(ours.nodes().iter().filter(|n| n.op_is::<SpatialConv>()).count(), 1);
            prop_assert_eq!(ours.nodes().len(), 2, "activation not fused");
            let got = run(ours, &input);
            prop_assert_eq!(got.shape(), expected.shape());
            got.close_enough(&expected, Approximation::Approximate).unwrap();
        }

        #[test]
        fn portable_and_fma_builds_agree(case in case()) {
            let g = case.geometry;
            let reference = reference_model(&case);
            let output = reference.outlet_fact(reference.output_outlets().unwrap()[0]).unwrap();
            let (oh, ow) = (output.shape[1].to_usize().unwrap(), output.shape[2].to_usize().unwrap());
            let input = random(&[g.in_channels, case.size.0, case.size.1], !case.seed);
            let kernel = random(&[g.out_channels, g.in_per_group(), g.kernel.0, g.kernel.1], case.seed);
            let bias = random(&[g.out_channels], 7);
            let args = |f: Kernel| {
                let mut out = vec![0f32; g.out_channels * oh * ow];
                f(&g, case.size, (oh, ow), values(&input), values(&kernel),
                  values(&bias), case.activation, &mut Vec::new(), &mut out);
                out
            };
            let (a, b) = (args(spatial_conv), args(spatial_conv_portable));
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}
