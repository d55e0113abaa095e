//! Convolutions with few input channels per group (the depthwise 3×3 and 5×5 convolutions of the
//! selfie models, and their 3-channel stem), with bias, activation and a residual addition
//! fused: [`SpatialConv`].
//!
//! tract's `DepthWiseConv` walks the kernel through a generic patch iterator: 37% of the landscape
//! model's time at about 1 GMAC/s. Here each input plane is copied once into a zero-padded
//! scratch plane whose rows are split by column phase (for stride 2: even columns, then odd
//! columns, deinterleaved by vector loads), so every tap of every stride reads a contiguous run
//! of inputs with no padding test. The outputs are computed in blocks that fill half the vector
//! registers with accumulators (see [`Rows::all`]): rows × vectors for a depthwise convolution,
//! four output channels sharing each loaded input for a dense one. Bias, activation and residual
//! are applied before the store, which removes the separate `Max`/`HardSwish`/`Add` passes over
//! the tensor.
//!
//! [`rewrite`] swaps the op into a decluttered model; the tests compare it with tract's `Conv`
//! followed by tract's activation on random shapes, weights and inputs.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

use super::custom::{
    Replacement, WriteOutput, eval_op, f32s, replace_matches, residual, with_residual,
};
use super::kernel::{Activation, Simd, dispatch};
use super::pointwise::{fused_activation, fused_residual};

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
    /// A second input of the output's shape is added last.
    pub residual: bool,
}

impl Op for SpatialConv {
    fn name(&self) -> StaticName {
        "SpatialConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?} {:?}{}",
            self.geometry,
            self.activation,
            if self.residual { " +residual" } else { "" }
        )])
    }

    op_as_typed_op!();
}

eval_op!(SpatialConv);

impl WriteOutput for SpatialConv {
    fn output_shape(&self, inputs: &[TValue]) -> TractResult<TVec<usize>> {
        let input = &inputs[0];
        let rank = input.rank();
        ensure!(rank == 3 || rank == 4);
        let mut shape: TVec<usize> = input.shape().into();
        shape[rank - 3] = self.geometry.out_channels;
        shape[rank - 2] = self.output_size.0;
        shape[rank - 1] = self.output_size.1;
        with_residual(inputs, self.residual, shape)
    }

    fn write(
        &self,
        inputs: &[TValue],
        output: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> TractResult<()> {
        let input = &inputs[0];
        let rank = input.rank();
        spatial_conv(
            &self.geometry,
            (input.shape()[rank - 2], input.shape()[rank - 1]),
            self.output_size,
            f32s(input)?,
            f32s(&self.kernel)?,
            f32s(&self.bias)?,
            self.activation,
            residual(inputs, self.residual)?,
            scratch,
            output,
        );
        Ok(())
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
    /// ox·sw + kx − pl]) + residual[co, oy, ox]`, zero outside the input. `scratch` is reused
    /// between calls.
    #[allow(clippy::too_many_arguments)]
    pub fn spatial_conv / spatial_conv_portable = spatial_conv_generic(
        g: &Geometry,
        input_size: (usize, usize),
        output_size: (usize, usize),
        src: &[f32],
        kernel: &[f32],
        bias: &[f32],
        activation: Activation,
        residual: Option<&[f32]>,
        scratch: &mut Vec<f32>,
        dst: &mut [f32],
    )
}

/// Where a [`SpatialConv`] reads its inputs: each input plane copied into a zero-padded plane
/// whose rows are split by column phase, so that tap `kx` of output column `ox` is at phase
/// `kx % sw`, index `ox + kx / sw` of its row.
struct Padded {
    kernel: (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
    /// Values per phase: the output width rounded up to whole vectors, plus the taps' reach.
    phase_len: usize,
    /// `stride.1 · phase_len`.
    row_len: usize,
    /// `rows · row_len`, rows being those the outputs read.
    plane_len: usize,
}

impl Padded {
    fn new(g: &Geometry, (oh, ow): (usize, usize), lanes: usize) -> Padded {
        let phase_len = ow.div_ceil(lanes) * lanes + (g.kernel.1 - 1) / g.stride.1;
        let row_len = g.stride.1 * phase_len;
        Padded {
            kernel: g.kernel,
            stride: g.stride,
            pad: g.pad,
            phase_len,
            row_len,
            plane_len: ((oh - 1) * g.stride.0 + g.kernel.0) * row_len,
        }
    }

    /// Copies a `plane` of rows `w` wide into `padded` (`plane_len` values). Writes the same positions
    /// for every plane, so the padding stays as zero as `padded` was made.
    #[inline(always)]
    fn fill<S: Simd>(&self, s: S, plane: &[f32], w: usize, padded: &mut [f32]) {
        let (pt, pl) = self.pad;
        let (sw, phase_len) = (self.stride.1, self.phase_len);
        for (line, y) in plane.chunks_exact(w).zip(pt..) {
            let Some(row) = padded.get_mut(y * self.row_len..(y + 1) * self.row_len) else {
                break;
            };
            let done = match sw {
                1 => {
                    let n = w.min(phase_len.saturating_sub(pl));
                    row[pl..pl + n].copy_from_slice(&line[..n]);
                    n
                }
                2 => {
                    // Input column x is padded column x + pl: even columns go to one phase,
                    // odd columns to the other, a vector of each per 2·LANES inputs.
                    let even = (pl % 2) * phase_len + pl / 2;
                    let odd = ((pl + 1) % 2) * phase_len + pl.div_ceil(2);
                    let reach = pl.div_ceil(2);
                    let mut m = 0;
                    while 2 * (m + S::LANES) <= w && m + S::LANES + reach <= phase_len {
                        // SAFETY: `2m + 2·LANES ≤ w` values of `line`; both stores end within
                        // their phase (`m + LANES + pl.div_ceil(2) ≤ phase_len`) of `row`.
                        unsafe {
                            let (e, o) = s.load_deinterleaved(line.as_ptr().add(2 * m));
                            s.store(row.as_mut_ptr().add(even + m), e);
                            s.store(row.as_mut_ptr().add(odd + m), o);
                        }
                        m += S::LANES;
                    }
                    2 * m
                }
                _ => 0,
            };
            for (x, &v) in line.iter().enumerate().skip(done) {
                let j = x + pl;
                if j / sw < phase_len {
                    row[(j % sw) * phase_len + j / sw] = v;
                }
            }
        }
    }

    /// Where each tap of a group's kernel (`[planes, kh, kw]`) reads, relative to an output's
    /// first tap in the first plane; computed once per call, since a division per tap would cost
    /// more than its multiply-adds.
    fn tap_offsets(&self, planes: usize) -> Offsets {
        let (kh, kw) = self.kernel;
        let sw = self.stride.1;
        let mut offsets = Offsets::new();
        for plane in 0..planes {
            for ky in 0..kh {
                for kx in 0..kw {
                    offsets.push(
                        plane * self.plane_len
                            + ky * self.row_len
                            + (kx % sw) * self.phase_len
                            + kx / sw,
                    );
                }
            }
        }
        offsets
    }
}

/// On the stack for up to 4 planes of 3×3 taps (the stems, every depthwise 3×3) or 1 of 6×6.
type Offsets = tract_smallvec::SmallVec<[usize; 36]>;

/// The outputs of one group, read from its padded planes.
struct Rows<'a, S: Simd> {
    s: S,
    /// The group's padded planes, `plane_len` apart.
    planes: &'a [f32],
    /// [`Padded::tap_offsets`].
    offsets: &'a [usize],
    /// Between the first taps of consecutive output rows: `stride.0 · row_len`.
    row_step: usize,
    activation: Activation,
    /// Added to the outputs after the activation, in the outputs' layout.
    residual: Option<&'a [f32]>,
    /// Output width.
    ow: usize,
    /// A short last vector of a row is stored here first: `LANES` values.
    staged: &'a mut [f32],
}

impl<S: Simd> Rows<'_, S> {
    /// Every output row of the channels `outputs` (`[channel, plane of oh × ow]`, with their
    /// `weights` and `bias`), `C` channels × `R` rows × `B` vectors at a time. The `C·R·B`
    /// independent accumulators keep both FMA pipes busy although each sums its taps in
    /// sequence (one row of 4 vectors waited on the multiply-add latency); `C` channels share
    /// each loaded input vector, which for a dense convolution saves loads (most of them
    /// straddle two cache lines, since the taps are shifted by one value).
    #[inline(always)]
    fn all<const C: usize, const R: usize, const B: usize>(
        &mut self,
        outputs: &mut [f32],
        oh: usize,
        weights: &[f32],
        bias: &[f32],
    ) {
        let taps = self.offsets.len();
        let planes = C * oh * self.ow;
        let whole = oh - oh % R;
        // Rows outermost, so that a dense convolution's output channels share the input rows
        // while they are in L1.
        for oy in (0..whole).step_by(R).chain(whole..oh) {
            for (block, ((out, weights), bias)) in outputs
                .chunks_exact_mut(planes)
                .zip(weights.chunks_exact(C * taps))
                .zip(bias.chunks_exact(C))
                .enumerate()
            {
                let residual = self.residual.map(|r| &r[block * planes..][..planes]);
                if oy < whole {
                    self.rows::<C, R, B>(out, residual, oy, weights, bias);
                } else {
                    self.rows::<C, 1, B>(out, residual, oy, weights, bias);
                }
            }
        }
    }

    /// Output rows `oy..oy + R` of the `C` channels' planes `out`.
    #[inline(always)]
    fn rows<const C: usize, const R: usize, const B: usize>(
        &mut self,
        out: &mut [f32],
        residual: Option<&[f32]>,
        oy: usize,
        weights: &[f32],
        bias: &[f32],
    ) {
        let (s, ow, lanes) = (self.s, self.ow, S::LANES);
        let plane = out.len() / C;
        assert!((oy + R) * ow <= plane && residual.is_none_or(|r| r.len() == out.len()));
        let at = oy * self.row_step;
        let mut x0 = 0;
        while x0 + B * lanes <= ow {
            // SAFETY: rows below `oh`, vectors within `⌈ow / LANES⌉·LANES`: within reach.
            let acc = unsafe { self.sums::<C, R, B>(weights, bias, at + x0) };
            for (c, acc) in acc.iter().enumerate() {
                for (r, acc) in acc.iter().enumerate() {
                    for (b, &a) in acc.iter().enumerate() {
                        let at = c * plane + (oy + r) * ow + x0 + b * lanes;
                        let mut v = self.activation.apply(s, a);
                        // SAFETY: `x0 + B·LANES ≤ ow` in row `oy + r < oh` of plane `c` of
                        // `out` and of `residual` (asserted).
                        unsafe {
                            if let Some(res) = residual {
                                v = s.add(v, s.load(res.as_ptr().add(at)));
                            }
                            s.store(out.as_mut_ptr().add(at), v)
                        };
                    }
                }
            }
            x0 += B * lanes;
        }
        while x0 < ow {
            // SAFETY: as above.
            let acc = unsafe { self.sums::<C, R, 1>(weights, bias, at + x0) };
            for (c, acc) in acc.iter().enumerate() {
                for (r, [a]) in acc.iter().enumerate() {
                    let v = self.activation.apply(s, *a);
                    let at = c * plane + (oy + r) * ow + x0;
                    let n = lanes.min(ow - x0);
                    // SAFETY: `staged` holds `LANES` values.
                    unsafe { s.store(self.staged.as_mut_ptr(), v) };
                    let row = &mut out[at..at + n];
                    match residual {
                        Some(res) => {
                            let staged = &*self.staged;
                            for ((d, &v), &r) in row.iter_mut().zip(staged).zip(&res[at..]) {
                                *d = v + r;
                            }
                        }
                        None => row.copy_from_slice(&self.staged[..n]),
                    }
                }
            }
            x0 += lanes;
        }
    }

    /// `C` channels × `R` rows × `B` vectors of outputs, before the activation, whose first
    /// taps are at `at` in `planes`: `bias[c] + Σ weights[c·taps + t] · planes[at + r·row_step
    /// + offsets[t] ..]`.
    ///
    /// # Safety
    /// `at + (R − 1)·row_step + offsets[t] + B·LANES ≤ planes.len()` for every tap `t`.
    #[inline(always)]
    unsafe fn sums<const C: usize, const R: usize, const B: usize>(
        &self,
        weights: &[f32],
        bias: &[f32],
        at: usize,
    ) -> [[[S::V; B]; R]; C] {
        let s = self.s;
        let taps = self.offsets.len();
        assert!(weights.len() == C * taps && bias.len() == C);
        let mut acc: [[[S::V; B]; R]; C] = std::array::from_fn(|c| [[s.splat(bias[c]); B]; R]);
        let first = self.planes.as_ptr().wrapping_add(at);
        for (t, &offset) in self.offsets.iter().enumerate() {
            let x: [[S::V; B]; R] = std::array::from_fn(|r| {
                std::array::from_fn(|b| {
                    // SAFETY: the caller's contract.
                    unsafe { s.load(first.add(offset + r * self.row_step + b * S::LANES)) }
                })
            });
            for (c, acc) in acc.iter_mut().enumerate() {
                let w = s.splat(weights[c * taps + t]);
                for (acc, x) in acc.iter_mut().zip(&x) {
                    for (acc, &x) in acc.iter_mut().zip(x) {
                        *acc = s.mul_add(w, x, *acc);
                    }
                }
            }
        }
        acc
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn spatial_conv_generic<S: Simd>(
    s: S,
    g: &Geometry,
    input_size: (usize, usize),
    (oh, ow): (usize, usize),
    src: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    residual: Option<&[f32]>,
    scratch: &mut Vec<f32>,
    dst: &mut [f32],
) {
    assert!(residual.is_none_or(|r| r.len() == dst.len()));
    let padded = Padded::new(g, (oh, ow), S::LANES);
    let cpg = g.in_per_group();
    let out_per_group = g.out_channels / g.group;
    let taps = g.kernel.0 * g.kernel.1;
    let plane_len = padded.plane_len;
    // One group's planes at a time (a depthwise convolution's one plane), so they stay in cache
    // while every output row of the group reads them.
    scratch.clear();
    scratch.resize(cpg * plane_len, 0.0);
    let in_plane = input_size.0 * input_size.1;
    let mut staged = [0f32; 8];
    let offsets = padded.tap_offsets(cpg);
    // Every read stays in the scratch: the last output row's last vector, at its farthest tap.
    let reach = (oh - 1) * g.stride.0 * padded.row_len + ow.div_ceil(S::LANES) * S::LANES;
    assert!(offsets.iter().all(|&o| o + reach <= scratch.len()));
    for group in 0..g.group {
        let inputs = &src[group * cpg * in_plane..][..cpg * in_plane];
        for (plane, padded_plane) in inputs
            .chunks_exact(in_plane)
            .zip(scratch.chunks_exact_mut(plane_len))
        {
            padded.fill(s, plane, input_size.1, padded_plane);
        }
        let channels = group * out_per_group..(group + 1) * out_per_group;
        let outputs = &mut dst[channels.start * oh * ow..channels.end * oh * ow];
        let weights = &kernel[channels.start * cpg * taps..channels.end * cpg * taps];
        let residual = residual.map(|r| &r[channels.start * oh * ow..channels.end * oh * ow]);
        let bias = &bias[channels];
        let mut rows = Rows {
            s,
            planes: scratch,
            offsets: &offsets,
            row_step: g.stride.0 * padded.row_len,
            activation,
            residual,
            ow,
            staged: &mut staged[..S::LANES],
        };
        // Half the registers as accumulators: four output channels when they read the same
        // inputs, else rows and vectors shaped to the row width.
        let dense = out_per_group % 4 == 0;
        match (S::REGISTERS >= 32, dense, ow.div_ceil(S::LANES)) {
            (false, true, _) => rows.all::<4, 1, 2>(outputs, oh, weights, bias),
            (false, false, 1) => rows.all::<1, 8, 1>(outputs, oh, weights, bias),
            (false, false, 2 | 3) => rows.all::<1, 4, 2>(outputs, oh, weights, bias),
            (false, false, 4..=7) => rows.all::<1, 2, 4>(outputs, oh, weights, bias),
            (false, false, _) => rows.all::<1, 1, 8>(outputs, oh, weights, bias),
            (true, true, _) => rows.all::<4, 1, 4>(outputs, oh, weights, bias),
            (true, false, 1) => rows.all::<1, 16, 1>(outputs, oh, weights, bias),
            (true, false, 2 | 3) => rows.all::<1, 8, 2>(outputs, oh, weights, bias),
            (true, false, 4..=7) => rows.all::<1, 4, 4>(outputs, oh, weights, bias),
            (true, false, _) => rows.all::<1, 2, 8>(outputs, oh, weights, bias),
        }
    }
}

/// Replaces every f32 grouped convolution with constant weights and at most 4 input channels per
/// group (depthwise convolutions, and stems on RGB) by a [`SpatialConv`], fusing a following
/// `Relu` or `HardSwish` that is the convolution's only consumer. Returns how many were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    replace_matches(model, |model, id| {
        let Some(op) = spatial_conv_for(model, id)? else {
            return Ok(None);
        };
        let (activation, last) = fused_activation(model, id)?;
        let residual = fused_residual(model, last)?;
        let mut inputs = tvec!(model.node(id).inputs[0]);
        inputs.extend(residual.map(|(operand, _)| operand));
        let op = SpatialConv {
            activation,
            residual: residual.is_some(),
            ..op
        };
        let last = residual.map_or(last, |(_, add)| add);
        Ok(Some(Replacement { op, inputs, last }))
    })
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
        residual: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel::testing::{random, values};
    use proptest::prelude::*;
    use tract_onnx::tract_core::ops::cnn::PoolSpec;
    use tract_onnx::tract_core::ops::math::{add, max};
    use tract_onnx::tract_core::ops::nn::hard_swish;

    #[derive(Debug, Clone)]
    struct Case {
        geometry: Geometry,
        after: (usize, usize),
        size: (usize, usize),
        activation: Activation,
        /// A second input is added after the activation.
        residual: bool,
        seed: u64,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            prop_oneof![Just((1, 0)), Just((3, 1)), Just((5, 2))],
            1usize..=2,
            1usize..=2,
            0usize..3,
            prop_oneof![Just(true), Just(false)],
            // Up to 80 columns and 24 rows: every block shape of `Rows::all` for 8 lanes.
            (1usize..=6, 1usize..=80),
            any::<bool>(),
            any::<u64>(),
        )
            .prop_filter_map(
                "input smaller than the kernel",
                |((k, pad), sh, sw, act, depthwise, (c, w), residual, seed)| {
                    let (in_channels, out_channels, group) =
                        if depthwise { (c, c, c) } else { (3, c, 1) };
                    let size = (k + (w * 7 % 20), w.max(k));
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
                        residual,
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
        Option<&[f32]>,
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
        if case.residual {
            let shape = model.outlet_fact(y[0]).unwrap().shape.clone();
            let skip = model.add_source("skip", f32::fact(shape)).unwrap();
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

    /// The input, and the residual when the case has one.
    fn inputs(case: &Case, output: &TypedFact) -> Vec<Tensor> {
        let g = &case.geometry;
        let mut inputs = vec![random(
            &[g.in_channels, case.size.0, case.size.1],
            !case.seed,
        )];
        if case.residual {
            let shape: Vec<usize> = output.shape.iter().map(|d| d.to_usize().unwrap()).collect();
            inputs.push(random(&shape, case.seed.rotate_left(9)));
        }
        inputs
    }

    fn output_fact(model: &TypedModel) -> TypedFact {
        model
            .outlet_fact(model.output_outlets().unwrap()[0])
            .unwrap()
            .clone()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_tract_conv_and_activation(case in case()) {
            let reference = reference_model(&case);
            let inputs = inputs(&case, &output_fact(&reference));
            let expected = run(reference.clone(), &inputs);
            let mut ours = reference;
            prop_assert_eq!(rewrite(&mut ours).unwrap(), 1);
            prop_assert_eq!(ours.nodes().iter().filter(|n| n.op_is::<SpatialConv>()).count(), 1);
            prop_assert_eq!(ours.nodes().len(), inputs.len() + 1, "not all fused");
            let got = run(ours, &inputs);
            prop_assert_eq!(got.shape(), expected.shape());
            got.close_enough(&expected, Approximation::Approximate).unwrap();
        }

        #[test]
        fn portable_and_simd_builds_agree(case in case()) {
            let g = case.geometry;
            let output = output_fact(&reference_model(&case));
            let (oh, ow) = (output.shape[1].to_usize().unwrap(), output.shape[2].to_usize().unwrap());
            let inputs = inputs(&case, &output);
            let kernel = random(&[g.out_channels, g.in_per_group(), g.kernel.0, g.kernel.1], case.seed);
            let bias = random(&[g.out_channels], 7);
            let args = |f: Kernel| {
                let mut out = vec![0f32; g.out_channels * oh * ow];
                f(&g, case.size, (oh, ow), values(&inputs[0]), values(&kernel), values(&bias),
                  case.activation, inputs.get(1).map(values), &mut Vec::new(), &mut out);
                out
            };
            let (a, b) = (args(spatial_conv), args(spatial_conv_portable));
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}
