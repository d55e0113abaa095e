//! Int8 1×1 convolutions for [`Precision::Int8`](super::Precision::Int8):
//! [`QuantizedPointwise`], a [`Pointwise`] whose products are 8-bit integers.
//!
//! The scheme is ONNX Runtime's dynamic quantization of convolutions (`quantize_dynamic`,
//! per-channel, int8 weights). At load time, [`rewrite`] turns every `Pointwise` node into a
//! `QuantizedPointwise` whose weights are quantized per output channel, symmetric:
//! `w ≈ s_o · q` with `q ∈ [−127, 127]`. At run time each input tensor is quantized by its own
//! range to 256 levels with a zero point (`x ≈ s_x · (v − z)`, 0 exactly representable), as
//! ONNX Runtime's `DynamicQuantizeLinear` does; the products are summed exactly in i32, and the
//! epilogue dequantizes with `s_x · s_o`, adds the bias, applies the activation and adds the
//! residual in f32, as `Pointwise` does.
//!
//! Only the 1×1 convolutions are int8: they are most of the multiply-adds of the selfie and pose
//! models. The depthwise and stem convolutions, squeeze-excite, the upsampling and everything
//! tract runs itself stay f32 — they are memory-bound or too small for 8 bits to pay for the
//! quantization pass in front of them.
//!
//! Both operands are held as i16 with int8-range values (the activation as `v − z`, in
//! [−255, 255]), input channels in pairs: a pixel's values of channels `2j` and `2j + 1` are
//! adjacent. That is the operand of AVX2's `vpmaddwd`, which multiplies 16 i16 pairs and adds
//! each pair's two products into an i32: 16 multiply-adds per instruction, twice an f32 FMA's,
//! and no saturation (|q · (v − z)| ≤ 127 · 255, two per lane < 2¹⁶, where `vpmaddubsw` on
//! u8 × i8 saturates its i16 sums). NEON multiplies the same vectors with `smlal`/`smlal2` (i16
//! × i16 widened into i32), keeping the two channels of a pair in adjacent lanes that one
//! pairwise add (`addp`) combines after the last input channel. Where the CPU has Armv8.2's dot
//! product (`dotprod`: the Pi 5, not the Pi 4; checked at run time) `sdot` does four times as
//! many per instruction on i8 operands (see [`QuantizedPointwise::quads`]). The portable build
//! does the same integer sums one pixel at a time. All compute the same i32 sums, so they differ
//! only in the f32 rounding of the epilogue.
//!
//! The op, its rewrite and the kernel are written once, here; what each instruction set does
//! differently is apart, as for the f32 ops (see [`super::kernel`]): the integer operations in
//! `simd`, and in `sdot` the dot product kernel, whose panel layout is its own.
//!
//! Speed: `vpmaddwd` needs a `vpaddd` to accumulate, and `smlal` does 4 multiply-adds like an
//! f32 `fmla`, so without AVX-VNNI (not used yet) or `sdot` a multiply-add costs about what it
//! does in f32, and the quantization pass in front of each convolution is extra: int8 is then
//! about as fast as f32, not faster. `sdot` is where 8 bits pay.

#[cfg(target_arch = "aarch64")]
mod sdot;
mod simd;

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::custom::{Replacement, WriteOutput, eval_op, f32s, replace_matches, residual};
use super::kernel::{Activation, Simd, dispatch};
use super::pointwise::{Pointwise, describe, facts_for, shape_for};
use simd::Int8Simd;

/// Output channels per block.
const ROWS: usize = 4;
/// Pixel vectors per tile: 4 × 2 accumulators, as `Pointwise` on AVX2 (on NEON each is a pair of
/// registers, 16 in all).
const COLUMNS: usize = 2;
/// Widest vector of any [`Int8Simd`], in f32 lanes (AVX2).
const MAX_LANES: usize = 8;
/// i16 values of a strip's panel: 16 KiB, L1.
const PANEL_VALUES: usize = 8192;

/// `[I, H, W]` or `[1, I, H, W]` f32 → `[O, H, W]` or `[1, O, H, W]`: `act(W·x + bias)
/// (+ residual)`, with `W` and `x` quantized to int8.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct QuantizedPointwise {
    pub in_channels: usize,
    pub out_channels: usize,
    /// `[⌈O/4⌉, ⌈I/2⌉, 4, 2]` i16 of int8 range: blocks of four output channels, each input
    /// channel pair's two weights adjacent; zero past `O` and `I`.
    pub packed: Arc<Tensor>,
    /// `[⌈O/4⌉·4]`: output channel `o`'s weights are `scales[o] · q`.
    pub scales: Arc<Tensor>,
    /// `[⌈O/4⌉·4]`, zero past `O`.
    pub bias: Arc<Tensor>,
    pub activation: Activation,
    /// A second input of the output's shape is added last.
    pub residual: bool,
    /// The output has a leading batch axis of 1.
    pub batch: bool,
    /// On a CPU with dot product instructions (aarch64 `sdot`), the same weights for them:
    /// `[⌈O/4⌉, ⌈I/4⌉, 4, 4]` i8 (four output channels × four input channels) and each output
    /// channel's sum `[⌈O/4⌉·4]` i32.
    pub quads: Option<(Arc<Tensor>, Arc<Tensor>)>,
}

impl QuantizedPointwise {
    /// `weights` is `[O, I]`, row-major.
    pub fn new(
        weights: &[f32],
        bias: &[f32],
        in_channels: usize,
        activation: Activation,
        residual: bool,
    ) -> QuantizedPointwise {
        let out_channels = bias.len();
        let (blocks, pairs) = (out_channels.div_ceil(ROWS), in_channels.div_ceil(2));
        let mut scales = vec![0f32; blocks * ROWS];
        let mut levels = vec![0i8; out_channels * in_channels];
        for (o, (row, q)) in weights
            .chunks_exact(in_channels)
            .zip(levels.chunks_exact_mut(in_channels))
            .enumerate()
        {
            let scale = row.iter().fold(0f32, |m, w| m.max(w.abs())) / 127.0;
            scales[o] = scale;
            if scale > 0.0 {
                for (q, &w) in q.iter_mut().zip(row) {
                    *q = (w / scale).round_ties_even().clamp(-127.0, 127.0) as i8;
                }
            }
        }
        let mut packed = vec![0i16; blocks * pairs * ROWS * 2];
        for (at, &q) in levels.iter().enumerate() {
            let (o, i) = (at / in_channels, at % in_channels);
            packed[(((o / ROWS) * pairs + i / 2) * ROWS + o % ROWS) * 2 + i % 2] = q.into();
        }
        let quads = dot_product().then(|| {
            let quads = in_channels.div_ceil(4);
            let mut packed = vec![0i8; blocks * quads * ROWS * 4];
            let mut sums = vec![0i32; blocks * ROWS];
            for (at, &q) in levels.iter().enumerate() {
                let (o, i) = (at / in_channels, at % in_channels);
                packed[(((o / ROWS) * quads + i / 4) * ROWS + o % ROWS) * 4 + i % 4] = q;
                sums[o] += i32::from(q);
            }
            let arc = |t: Tensor| t.into_arc_tensor();
            (arc(tensor1(&packed)), arc(tensor1(&sums)))
        });
        let mut padded_bias = bias.to_vec();
        padded_bias.resize(blocks * ROWS, 0.0);
        QuantizedPointwise {
            in_channels,
            out_channels,
            packed: tensor1(&packed).into_arc_tensor(),
            scales: tensor1(&scales).into_arc_tensor(),
            bias: tensor1(&padded_bias).into_arc_tensor(),
            activation,
            residual,
            batch: false,
            quads,
        }
    }

    /// The same convolution as `op`, quantized.
    pub fn from_pointwise(op: &Pointwise) -> TractResult<QuantizedPointwise> {
        // `Pointwise::packed` is `[⌈O/4⌉, I, 4]`: blocks of four output channels interleaved.
        const POINTWISE_ROWS: usize = 4;
        let (i_n, o_n) = (op.in_channels, op.out_channels);
        let packed = op.packed.try_as_plain_ram()?.as_slice::<f32>()?;
        let bias = op.bias.try_as_plain_ram()?.as_slice::<f32>()?;
        ensure!(
            packed.len() == o_n.div_ceil(POINTWISE_ROWS) * POINTWISE_ROWS * i_n
                && bias.len() >= o_n,
            "Pointwise {i_n}→{o_n} has {} packed weights and {} biases",
            packed.len(),
            bias.len()
        );
        let weights: Vec<f32> = (0..o_n * i_n)
            .map(|at| {
                let (o, i) = (at / i_n, at % i_n);
                packed[((o / POINTWISE_ROWS) * i_n + i) * POINTWISE_ROWS + o % POINTWISE_ROWS]
            })
            .collect();
        Ok(QuantizedPointwise {
            batch: op.batch,
            ..QuantizedPointwise::new(&weights, &bias[..o_n], i_n, op.activation, op.residual)
        })
    }
}

impl Op for QuantizedPointwise {
    fn name(&self) -> StaticName {
        "QuantizedPointwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(describe(
            (self.in_channels, self.out_channels),
            " int8",
            self.activation,
            self.residual,
        ))
    }

    op_as_typed_op!();
}

eval_op!(QuantizedPointwise);

impl WriteOutput for QuantizedPointwise {
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
        let n = input.shape()[rank - 2] * input.shape()[rank - 1];
        let (src, scales, bias) = (f32s(input)?, f32s(&self.scales)?, f32s(&self.bias)?);
        let residual = residual(inputs, self.residual)?;
        match &self.quads {
            #[cfg(target_arch = "aarch64")]
            Some((quads, sums)) if dot_product() => {
                let quads = quads.try_as_plain_ram()?.as_slice::<i8>()?;
                let sums = sums.try_as_plain_ram()?.as_slice::<i32>()?;
                // SAFETY: the CPU has the dot product instructions (checked).
                unsafe {
                    sdot::pointwise(
                        self.in_channels,
                        n,
                        (src, quads, sums, scales, bias),
                        self.activation,
                        residual,
                        scratch,
                        output,
                    )
                }
            }
            _ => quantized_pointwise(
                self.in_channels,
                n,
                src,
                self.packed.try_as_plain_ram()?.as_slice::<i16>()?,
                scales,
                bias,
                self.activation,
                residual,
                scratch,
                output,
            ),
        }
        Ok(())
    }
}

impl TypedOp for QuantizedPointwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        facts_for(inputs, self.out_channels, self.batch)
    }

    as_op!();
}

/// Replaces every [`Pointwise`] node with its [`QuantizedPointwise`]. Returns how many were
/// replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    replace_matches(model, |model, id| {
        let node = model.node(id);
        let Some(op) = node.op_as::<Pointwise>() else {
            return Ok(None);
        };
        let op = QuantizedPointwise::from_pointwise(op)
            .with_context(|| format!("quantizing {}", node.name))?;
        let inputs = node.inputs.iter().copied().collect();
        Ok(Some(Replacement {
            op,
            inputs,
            last: id,
        }))
    })
}

/// `scratch` (kept between runs) as a panel of `len` levels followed by `staged` f32 values.
fn split_scratch<T: Level>(
    scratch: &mut Vec<f32>,
    len: usize,
    staged: usize,
) -> (&mut [T], &mut [f32]) {
    let words = (len * size_of::<T>()).div_ceil(size_of::<f32>());
    scratch.clear();
    scratch.resize(words + staged, 0.0);
    let (panel, staged) = scratch.split_at_mut(words);
    // SAFETY: a `Level` is a plain integer (any bits are a value) whose alignment divides f32's,
    // so the f32 slice is a whole slice of them.
    let (head, panel, _) = unsafe { panel.align_to_mut::<T>() };
    assert!(head.is_empty());
    (&mut panel[..len], staged)
}

/// The integer types a panel holds: i16 (pairs), i8 (quads).
trait Level: Copy {}
impl Level for i16 {}
impl Level for i8 {}

/// Whether this CPU has dot product instructions our kernels use: aarch64's `sdot` (Armv8.2
/// `dotprod`: the Pi 5's Cortex-A76, not the Pi 4's A72). x86's VNNI is not used yet.
pub fn dot_product() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        false
    }
}

/// The instructions the int8 kernels multiply with on this CPU, for reports.
pub fn kernel_name() -> &'static str {
    if dot_product() {
        "NEON sdot"
    } else if !super::kernel::simd_kernels() {
        "portable"
    } else if cfg!(target_arch = "x86_64") {
        "AVX2 vpmaddwd"
    } else {
        "NEON smlal"
    }
}

/// How an input tensor is quantized: `x ≈ scale · v` with `v = round(x / scale)` in
/// `[lo, hi]`, `hi − lo = 255` (ONNX Runtime's u8 level `v − lo`, zero point `−lo`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Quantization {
    pub scale: f32,
    pub lo: i32,
    pub hi: i32,
}

impl Quantization {
    /// The levels of a tensor whose values span `[min, max]`, widened to hold 0.
    pub(super) fn of_range(min: f32, max: f32) -> Quantization {
        let (min, max) = (min.min(0.0), max.max(0.0));
        // An all-zero (or non-finite) tensor: any scale maps it to level 0.
        let scale = if max > min && (max - min).is_finite() {
            (max - min) / 255.0
        } else {
            1.0
        };
        let zero = (-min / scale).round_ties_even().clamp(0.0, 255.0) as i32;
        Quantization {
            scale,
            lo: -zero,
            hi: 255 - zero,
        }
    }
}

dispatch! {
    /// `dst[o, p] = act(bias[o] + s_x·scales[o]·Σ_i q[o, i]·v[i, p]) + residual[o, p]` for
    /// `p < pixels`, with `q` packed as in [`QuantizedPointwise::packed`], `v` the levels of
    /// `src` ([`Quantization::of_range`] of its values) and `dst` holding `O` channels.
    #[allow(clippy::too_many_arguments)]
    pub fn quantized_pointwise / quantized_pointwise_portable = quantized_generic(
        in_channels: usize,
        pixels: usize,
        src: &[f32],
        packed: &[i16],
        scales: &[f32],
        bias: &[f32],
        activation: Activation,
        residual: Option<&[f32]>,
        scratch: &mut Vec<f32>,
        dst: &mut [f32],
    )
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn quantized_generic<S: Int8Simd>(
    s: S,
    k: usize,
    n: usize,
    src: &[f32],
    packed: &[i16],
    scales: &[f32],
    bias: &[f32],
    activation: Activation,
    residual: Option<&[f32]>,
    scratch: &mut Vec<f32>,
    dst: &mut [f32],
) {
    let out_channels = dst.len() / n;
    let (blocks, pairs) = (out_channels.div_ceil(ROWS), k.div_ceil(2));
    let width = COLUMNS * S::LANES;
    assert!(S::LANES <= MAX_LANES && src.len() >= k * n);
    assert!(packed.len() == blocks * pairs * ROWS * 2 && scales.len() >= blocks * ROWS);
    assert!(bias.len() >= blocks * ROWS && residual.is_none_or(|r| r.len() == dst.len()));
    let src = &src[..k * n];
    let (min, max) = range(s, src);
    let q = Quantization::of_range(min, max);
    // As in `Pointwise`: strips of pixels whose panel (the levels of all input channels) fits
    // in L1, copied contiguous and zero-padded to whole tiles, every output channel of a strip
    // before the next.
    let strip = (PANEL_VALUES / (2 * pairs)).div_ceil(width).max(1) * width;
    let (panel, staged) = split_scratch::<i16>(scratch, pairs * strip * 2, ROWS * width);
    for s0 in (0..n).step_by(strip) {
        let len = strip.min(n - s0);
        let stride = len.div_ceil(width) * width;
        quantize_strip(s, src, (n, s0, len, stride), q, panel);
        for (block, weights) in packed.chunks_exact(pairs * ROWS * 2).enumerate() {
            for t0 in (0..len).step_by(width) {
                let mut acc = [[s.zero(); COLUMNS]; ROWS];
                let xs = &panel[t0 * 2..];
                for (j, w) in weights.chunks_exact(ROWS * 2).enumerate() {
                    // SAFETY: pair row `j` of the panel (`pairs` rows of `2·stride`, `stride` a
                    // multiple of `width`) has `2·width` values from `2·(t0 + j·stride)`.
                    let x: [S::X; COLUMNS] = std::array::from_fn(|c| unsafe {
                        s.load_pairs(xs.as_ptr().add(2 * (j * stride + c * S::LANES)))
                    });
                    for (r, row) in acc.iter_mut().enumerate() {
                        // SAFETY: `w` holds `ROWS` pairs.
                        let w = unsafe { s.splat_pair(w.as_ptr().add(2 * r)) };
                        for (a, &x) in row.iter_mut().zip(&x) {
                            *a = s.multiply_add(*a, x, w);
                        }
                    }
                }
                let tile = std::array::from_fn(|r| {
                    let o = block * ROWS + r;
                    let (scale, bias) = (s.splat(q.scale * scales[o]), s.splat(bias[o]));
                    acc[r].map(|a| activation.apply(s, s.mul_add(s.to_f32(a), scale, bias)))
                });
                let (rows, cols) = (ROWS.min(out_channels - block * ROWS), width.min(len - t0));
                let at = (block * ROWS, s0 + t0);
                store_tile(s, &tile, at, (rows, cols), n, residual, staged, dst);
            }
        }
    }
}

/// The smallest and largest value of `src`.
#[inline(always)]
fn range<S: Simd>(s: S, src: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (s.splat(f32::INFINITY), s.splat(f32::NEG_INFINITY));
    let chunks = src.chunks_exact(S::LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        // SAFETY: `chunk` holds `LANES` values.
        let v = unsafe { s.load(chunk.as_ptr()) };
        (lo, hi) = (s.min(lo, v), s.max(hi, v));
    }
    let mut lanes = [[0f32; MAX_LANES]; 2];
    // SAFETY: each array holds `MAX_LANES ≥ LANES` values.
    unsafe {
        s.store(lanes[0].as_mut_ptr(), lo);
        s.store(lanes[1].as_mut_ptr(), hi);
    }
    let fold = |init: f32, f: fn(f32, f32) -> f32, lanes: &[f32]| {
        lanes[..S::LANES]
            .iter()
            .chain(rest)
            .fold(init, |a, &b| f(a, b))
    };
    (
        fold(f32::INFINITY, f32::min, &lanes[0]),
        fold(f32::NEG_INFINITY, f32::max, &lanes[1]),
    )
}

/// Writes the levels of pixels `s0..s0 + len` of every input channel of `src` (`n` pixels
/// each) into `panel`: `⌈k/2⌉` rows of `stride` pixel pairs, zero past `len` and, for an odd
/// `k`, in the last row's second channel.
#[inline(always)]
fn quantize_strip<S: Int8Simd>(
    s: S,
    src: &[f32],
    (n, s0, len, stride): (usize, usize, usize, usize),
    q: Quantization,
    panel: &mut [i16],
) {
    let inv = s.splat(1.0 / q.scale);
    let zeros = [0f32; MAX_LANES];
    let mut tails = [[0f32; MAX_LANES]; 2];
    for (row, channels) in panel.chunks_exact_mut(2 * stride).zip(src.chunks(2 * n)) {
        let a = &channels[s0..s0 + len];
        let b = (channels.len() > n).then(|| &channels[n + s0..n + s0 + len]);
        for p in (0..stride).step_by(S::LANES) {
            let full = p + S::LANES <= len;
            let [ta, tb] = &mut tails;
            let (pa, pb) = if full {
                (
                    a[p..].as_ptr(),
                    b.map_or(zeros.as_ptr(), |b| b[p..].as_ptr()),
                )
            } else {
                // The strip's last, partial vector (and the padding after it): zero-padded
                // copies.
                let part = len.saturating_sub(p);
                ta.fill(0.0);
                tb.fill(0.0);
                ta[..part].copy_from_slice(&a[p.min(len)..]);
                if let Some(b) = b {
                    tb[..part].copy_from_slice(&b[p.min(len)..]);
                }
                (ta.as_ptr(), tb.as_ptr())
            };
            // SAFETY: `pa` and `pb` have `LANES` values (a full vector of a channel, or a
            // `MAX_LANES` array); `row` has `2·stride` values and `p + LANES ≤ stride`.
            unsafe {
                let (va, vb) = (s.load(pa), s.load(pb));
                s.quantize_pairs(va, vb, inv, q.lo, q.hi, row.as_mut_ptr().add(2 * p));
            }
        }
    }
}

/// Stores a tile of `rows` output channels from channel `at.0` × `cols` pixels from pixel
/// `at.1` (of `n` per channel) into `dst`, adding the residual; a short tile (of pixels or
/// channels) goes through `staged` (`ROWS × width` values).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn store_tile<S: Simd, const C: usize>(
    s: S,
    tile: &[[S::V; C]; ROWS],
    (o0, p0): (usize, usize),
    (rows, cols): (usize, usize),
    n: usize,
    residual: Option<&[f32]>,
    staged: &mut [f32],
    dst: &mut [f32],
) {
    let width = C * S::LANES;
    if rows == ROWS && cols == width {
        for (r, row) in tile.iter().enumerate() {
            let at = (o0 + r) * n + p0;
            for (c, &v) in row.iter().enumerate() {
                let at = at + c * S::LANES;
                assert!(at + S::LANES <= dst.len());
                let mut v = v;
                if let Some(res) = residual {
                    // SAFETY: a full tile of channel `o` ends at `at + LANES ≤ (o + 1)·n`,
                    // within `dst` (checked) and the residual, of `dst`'s length.
                    v = s.add(v, unsafe { s.load(res.as_ptr().add(at)) });
                }
                // SAFETY: as above.
                unsafe { s.store(dst.as_mut_ptr().add(at), v) };
            }
        }
        return;
    }
    for (r, row) in tile.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let at = r * width + c * S::LANES;
            assert!(at + S::LANES <= staged.len());
            // SAFETY: checked.
            unsafe { s.store(staged.as_mut_ptr().add(at), v) };
        }
    }
    for (r, staged) in staged.chunks_exact(width).take(rows).enumerate() {
        let at = (o0 + r) * n + p0;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel::testing::{random, values};
    use proptest::prelude::*;

    type Kernel = fn(
        usize,
        usize,
        &[f32],
        &[i16],
        &[f32],
        &[f32],
        Activation,
        Option<&[f32]>,
        &mut Vec<f32>,
        &mut [f32],
    );

    pub(super) const ACTIVATIONS: [Activation; 3] = [
        Activation::Identity,
        Activation::Relu,
        Activation::HardSwish,
    ];

    /// A model of one f32 [`Pointwise`] (`[i, h, w]` in, maybe a residual input).
    fn pointwise_model(op: Pointwise, (h, w): (usize, usize)) -> TypedModel {
        let mut model = TypedModel::default();
        let mut inputs = tvec![
            model
                .add_source("x", f32::fact([op.in_channels, h, w]))
                .unwrap()
        ];
        if op.residual {
            let shape = [1, op.out_channels, h, w];
            let shape = if op.batch { &shape[..] } else { &shape[1..] };
            inputs.push(model.add_source("skip", f32::fact(shape)).unwrap());
        }
        let y = model.wire_node("conv", op, &inputs).unwrap();
        model.select_output_outlets(&y).unwrap();
        model
    }

    fn run(model: TypedModel, inputs: &[Tensor]) -> Tensor {
        let plan = model.into_runnable().unwrap();
        let inputs = inputs.iter().map(|t| t.clone().into_tvalue()).collect();
        plan.run(inputs).unwrap()[0].clone().into_tensor()
    }

    /// The f32 model's output, the rewritten model's output, and its op.
    fn both(
        op: Pointwise,
        (h, w): (usize, usize),
        inputs: &[Tensor],
    ) -> (Tensor, Tensor, QuantizedPointwise) {
        let reference = pointwise_model(op, (h, w));
        let expected = run(reference.clone(), inputs);
        let mut quantized = reference;
        assert_eq!(rewrite(&mut quantized).unwrap(), 1);
        let nodes = quantized.nodes();
        assert_eq!(nodes.len(), inputs.len() + 1);
        let op = nodes[inputs.len()]
            .op_as::<QuantizedPointwise>()
            .unwrap()
            .clone();
        let got = run(quantized, inputs);
        assert_eq!(got.shape(), expected.shape());
        (expected, got, op)
    }

    #[test]
    fn quantization_holds_zero_and_spans_the_range() {
        for (min, max) in [
            (-1.0, 3.0),
            (0.5, 2.0),
            (-4.0, -1.0),
            (0.0, 0.0),
            (-1e-3, 1e3),
        ] {
            let q = Quantization::of_range(min, max);
            assert_eq!(q.hi - q.lo, 255, "{min}..{max}");
            assert!(q.lo <= 0 && 0 <= q.hi, "{min}..{max}: {q:?}");
            // Both ends within half a step of a level.
            for x in [min.min(0.0), max.max(0.0)] {
                let level = (x / q.scale).round_ties_even();
                assert!((q.lo as f32..=q.hi as f32).contains(&level), "{x}: {q:?}");
            }
        }
    }

    /// Weights and inputs on the quantization grids (a row's largest weight is ±127 steps, the
    /// inputs span exactly 255 steps): the integer sums are the f32 products' sums, so int8
    /// matches f32 to f32 rounding.
    #[test]
    fn values_on_the_grid_are_exact() {
        let (i, o, n) = (37, 9, 53);
        let mut weights: Vec<f32> = (0..o * i)
            .map(|at| ((at * 7919) % 255) as f32 / 4.0 - 31.75)
            .collect();
        for row in weights.chunks_exact_mut(i) {
            row[3] = -31.75;
        }
        let mut x: Vec<f32> = (0..i * n)
            .map(|at| ((at * 104729) % 256) as f32 / 2.0 - 50.0)
            .collect();
        (x[0], x[1]) = (-50.0, 77.5);
        let bias: Vec<f32> = (0..o).map(|c| c as f32 - 4.0).collect();
        let op = Pointwise::new(&weights, &bias, i, Activation::Identity, false);
        let x = Tensor::from_shape(&[i, 1, n], &x).unwrap();
        let (expected, got, q) = both(op, (1, n), &[x]);
        assert_eq!(values(&q.scales)[..o], [0.25; 9]);
        got.close_enough(&expected, Approximation::Exact).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every output within the quantization error of f32's: `|w·x − s_o q · s_x v| ≤
        /// |w|·s_x/2 + |x|·s_o/2 + s_o·s_x/4` per product, times the activation's steepest
        /// slope (HardSwish: 3/2), plus f32 rounding.
        #[test]
        fn matches_f32_within_the_quantization_error(
            i in 1usize..48, o in 1usize..30, h in 1usize..5, w in 1usize..40,
            activation in 0usize..3, residual in any::<bool>(), batch in any::<bool>(),
            non_negative in any::<bool>(), magnitude in -3i32..4, seed in any::<u64>(),
        ) {
            let activation = ACTIVATIONS[activation];
            let weights = random(&[o, i], seed);
            let bias = random(&[o], seed ^ 99);
            let op = Pointwise {
                batch,
                ..Pointwise::new(values(&weights), values(&bias), i, activation, residual)
            };
            // Post-ReLU tensors are non-negative; the range sets the step.
            let x: Vec<f32> = values(&random(&[i, h, w], !seed))
                .iter()
                .map(|&v| if non_negative { v.abs() } else { v } * 2f32.powi(magnitude))
                .collect();
            let mut inputs = vec![Tensor::from_shape(&[i, h, w], &x).unwrap()];
            if residual {
                let shape = if batch { vec![1, o, h, w] } else { vec![o, h, w] };
                inputs.push(random(&shape, seed.rotate_left(7)));
            }
            let (expected, got, q) = both(op, (h, w), &inputs);
            let (min, max) = x.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
            let sx = Quantization::of_range(min, max).scale;
            let slope = if activation == Activation::HardSwish { 1.5 } else { 1.0 };
            let n = h * w;
            let (expected, got) = (values(&expected), values(&got));
            for oc in 0..o {
                let so = values(&q.scales)[oc];
                for p in 0..n {
                    let (mut bound, mut magnitude) = (0f32, 0f32);
                    for ic in 0..i {
                        let (wv, xv) = (values(&weights)[oc * i + ic].abs(), x[ic * n + p].abs());
                        bound += wv * sx / 2.0 + xv * so / 2.0 + so * sx / 4.0;
                        magnitude += wv * xv;
                    }
                    let at = oc * n + p;
                    let bound = slope * bound * (1.0 + 1e-5) + 1e-5 * (1.0 + magnitude + expected[at].abs());
                    prop_assert!(
                        (got[at] - expected[at]).abs() <= bound,
                        "o {oc} p {p}: {} vs f32 {} (bound {bound})", got[at], expected[at]
                    );
                }
            }
        }

        /// The vector build of this CPU (AVX2 or NEON) computes the portable build's integer
        /// sums: the outputs differ only by the epilogue's fused multiply-add.
        #[test]
        fn portable_and_simd_builds_agree(
            i in 1usize..40, o in 1usize..30, n in 1usize..100,
            activation in 0usize..3, residual in any::<bool>(), seed in any::<u64>(),
        ) {
            let src = random(&[i, n], seed);
            let weights = random(&[o, i], !seed);
            let bias = random(&[o], 3);
            let res = random(&[o, n], 5);
            let op = QuantizedPointwise::new(
                values(&weights), values(&bias), i, ACTIVATIONS[activation], residual,
            );
            let go = |f: Kernel| {
                let mut out = vec![0f32; o * n];
                f(i, n, values(&src), op.packed.try_as_plain_ram().unwrap().as_slice::<i16>().unwrap(),
                  values(&op.scales), values(&op.bias), op.activation,
                  residual.then(|| values(&res)), &mut Vec::new(), &mut out);
                out
            };
            let (a, b) = (go(quantized_pointwise), go(quantized_pointwise_portable));
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}
