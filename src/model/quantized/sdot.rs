//! The `sdot` kernel: four times the multiply-adds per instruction of `smlal`. Its operands are
//! i8, so an input level `l ∈ [lo, hi]` is stored as `l − lo − 128 ∈ [−128, 127]` and the
//! epilogue adds back `(lo + 128) · Σ_i q[o, i]`: the same i32 sums as the other builds. Input
//! channels go in quads, a pixel's four adjacent; `sdot v.4s, x.16b, w.4b[r]` adds, for four
//! pixels, the dot product of their quad with output channel `r`'s.

use std::arch::aarch64::*;
use std::arch::asm;

use super::{
    Activation, MAX_LANES, PANEL_VALUES, Quantization, ROWS, Simd, range, split_scratch, store_tile,
};
use crate::model::kernel::Neon;

/// Pixels per tile: four vectors of four.
const WIDTH: usize = 16;

/// `acc + Σ_j x[4p + j] · w[4·LANE + j]` for each pixel `p` of `x`.
#[inline(always)]
fn sdot<const LANE: i32>(acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: registers only; reached only from `pointwise`, whose caller checked that the
    // CPU has `dotprod`. (The intrinsic, `vdotq_laneq_s32`, is not stable Rust yet.)
    unsafe {
        asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {x:v}.16b, {w:v}.4b[{lane}]",
            acc = inout(vreg) acc,
            x = in(vreg) x,
            w = in(vreg) w,
            lane = const LANE,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// [`super::quantized_pointwise`] with the weights in quads (`weights.1`, see
/// [`super::QuantizedPointwise::quads`]) and their sums (`weights.2`).
///
/// # Safety
/// The CPU has `dotprod`.
#[target_feature(enable = "dotprod")]
#[allow(clippy::type_complexity)]
pub(super) unsafe fn pointwise(
    k: usize,
    n: usize,
    (src, quads, sums, scales, bias): (&[f32], &[i8], &[i32], &[f32], &[f32]),
    activation: Activation,
    residual: Option<&[f32]>,
    scratch: &mut Vec<f32>,
    dst: &mut [f32],
) {
    let s = Neon;
    let out_channels = dst.len() / n;
    let (blocks, k4) = (out_channels.div_ceil(ROWS), k.div_ceil(4));
    assert!(src.len() >= k * n && quads.len() == blocks * k4 * ROWS * 4);
    assert!(sums.len() >= blocks * ROWS && scales.len() >= blocks * ROWS);
    assert!(bias.len() >= blocks * ROWS && residual.is_none_or(|r| r.len() == dst.len()));
    let src = &src[..k * n];
    let (min, max) = range(s, src);
    let q = Quantization::of_range(min, max);
    // A panel of as many bytes as the other builds' (i16) panel.
    let strip = (2 * PANEL_VALUES / (4 * k4)).div_ceil(WIDTH).max(1) * WIDTH;
    let (panel, staged) = split_scratch::<i8>(scratch, k4 * strip * 4, ROWS * WIDTH);
    for s0 in (0..n).step_by(strip) {
        let len = strip.min(n - s0);
        let stride = len.div_ceil(WIDTH) * WIDTH;
        quantize_quads(src, (n, s0, len, stride), q, panel);
        for (block, weights) in quads.chunks_exact(k4 * ROWS * 4).enumerate() {
            for t0 in (0..len).step_by(WIDTH) {
                let mut acc = [[vdupq_n_s32(0); 4]; ROWS];
                for (j, w) in weights.chunks_exact(ROWS * 4).enumerate() {
                    // SAFETY: `w` has `ROWS · 4 = 16` values.
                    let w = unsafe { vld1q_s8(w.as_ptr()) };
                    // SAFETY: quad row `j` of the panel (`k4` rows of `4·stride`, `stride` a
                    // multiple of `WIDTH`) has `4·WIDTH` values from `4·(t0 + j·stride)`.
                    let x: [int8x16_t; 4] = std::array::from_fn(|c| unsafe {
                        vld1q_s8(panel.as_ptr().add(4 * (j * stride + t0 + 4 * c)))
                    });
                    for (c, &x) in x.iter().enumerate() {
                        acc[0][c] = sdot::<0>(acc[0][c], x, w);
                        acc[1][c] = sdot::<1>(acc[1][c], x, w);
                        acc[2][c] = sdot::<2>(acc[2][c], x, w);
                        acc[3][c] = sdot::<3>(acc[3][c], x, w);
                    }
                }
                let tile: [[float32x4_t; 4]; ROWS] = std::array::from_fn(|r| {
                    let o = block * ROWS + r;
                    let offset = vdupq_n_s32((q.lo + 128) * sums[o]);
                    let (scale, bias) = (s.splat(q.scale * scales[o]), s.splat(bias[o]));
                    acc[r].map(|a| {
                        let a = vcvtq_f32_s32(vaddq_s32(a, offset));
                        activation.apply(s, s.mul_add(a, scale, bias))
                    })
                });
                let (rows, cols) = (ROWS.min(out_channels - block * ROWS), WIDTH.min(len - t0));
                let at = (block * ROWS, s0 + t0);
                store_tile(s, &tile, at, (rows, cols), n, residual, staged, dst);
            }
        }
    }
}

/// As [`super::quantize_strip`], into `⌈k/4⌉` rows of `stride` pixel quads of
/// `level − lo − 128`, 8 pixels at a time (`vst4` interleaves four channels' bytes).
#[inline(always)]
fn quantize_quads(
    src: &[f32],
    (n, s0, len, stride): (usize, usize, usize, usize),
    q: Quantization,
    panel: &mut [i8],
) {
    // SAFETY: NEON is mandatory on aarch64; every pointer read has 8 values (a full run of
    // a channel, or an 8-value array) and every store 32 bytes within `row` (`4·stride`
    // bytes, `p + 8 ≤ stride`).
    unsafe {
        let inv = vdupq_n_f32(1.0 / q.scale);
        let offset = vdupq_n_s32(-(q.lo + 128));
        // Saturating narrowing to i8 is the clamp to [lo, hi].
        let level = |v| vaddq_s32(vcvtnq_s32_f32(vmulq_f32(v, inv)), offset);
        let zeros = [0f32; 2 * MAX_LANES];
        let mut tail = [0f32; 8];
        for (row, channels) in panel.chunks_exact_mut(4 * stride).zip(src.chunks(4 * n)) {
            for p in (0..stride).step_by(8) {
                let bytes: [int8x8_t; 4] = std::array::from_fn(|c| {
                    let Some(channel) = channels.get(c * n..(c + 1) * n) else {
                        // Past the last input channel: its weights are zero.
                        return vdup_n_s8(0);
                    };
                    let values = &channel[s0..s0 + len];
                    let ptr = if p + 8 <= len {
                        values[p..].as_ptr()
                    } else if p < len {
                        tail.fill(0.0);
                        tail[..len - p].copy_from_slice(&values[p..]);
                        tail.as_ptr()
                    } else {
                        zeros.as_ptr()
                    };
                    let (a, b) = (level(vld1q_f32(ptr)), level(vld1q_f32(ptr.add(4))));
                    vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)))
                });
                let bytes = int8x8x4_t(bytes[0], bytes[1], bytes[2], bytes[3]);
                vst4_s8(row.as_mut_ptr().add(4 * p), bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::model::kernel::testing::{random, values};
    use crate::model::quantized::tests::ACTIVATIONS;
    use crate::model::quantized::{QuantizedPointwise, dot_product, quantized_pointwise_portable};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The `sdot` build (run the aarch64 tests as a Cortex-A76 to reach it) computes the
        /// portable build's integer sums too; without `dotprod` no quads are made.
        #[test]
        fn dot_product_and_portable_builds_agree(
            i in 1usize..40, o in 1usize..30, n in 1usize..100,
            activation in 0usize..3, residual in any::<bool>(), seed in any::<u64>(),
        ) {
            let src = random(&[i, n], seed);
            let weights = random(&[o, i], !seed);
            let (bias, res) = (random(&[o], 3), random(&[o, n], 5));
            let op = QuantizedPointwise::new(
                values(&weights), values(&bias), i, ACTIVATIONS[activation], residual,
            );
            prop_assert_eq!(op.quads.is_some(), dot_product());
            let Some((quads, sums)) = &op.quads else { return Ok(()) };
            let residual = residual.then(|| values(&res));
            let mut expected = vec![0f32; o * n];
            quantized_pointwise_portable(
                i, n, values(&src), op.packed.try_as_plain_ram().unwrap().as_slice::<i16>().unwrap(),
                values(&op.scales), values(&op.bias), op.activation, residual, &mut Vec::new(),
                &mut expected,
            );
            let mut got = vec![0f32; o * n];
            let quads = quads.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap();
            let sums = sums.try_as_plain_ram().unwrap().as_slice::<i32>().unwrap();
            // SAFETY: quads are made only when the CPU has `dotprod`.
            unsafe {
                super::pointwise(i, n, (values(&src), quads, sums, values(&op.scales), values(&op.bias)),
                    op.activation, residual, &mut Vec::new(), &mut got);
            }
            for (x, y) in got.iter().zip(&expected) {
                prop_assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}
