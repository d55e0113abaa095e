//! [`Int8Simd`]: the int8 kernel's integer operations, one implementation per instruction set,
//! as [`crate::model::kernel`] has the f32 kernels' [`Simd`], so that the op and its kernel in
//! [`super`] are written once for all of them.

#[cfg(target_arch = "aarch64")]
use std::arch::aarch64::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use crate::model::kernel::Avx2;
#[cfg(target_arch = "aarch64")]
use crate::model::kernel::Neon;
use crate::model::kernel::{Portable, Simd};

/// The integer operations of the kernel, for the instruction sets of [`Simd`]. An `X` holds
/// `LANES` pixels of a pair of input channels as i16 (pixel by pixel, the pair adjacent), a `W`
/// one pair of weights repeated, an `Acc` the i32 sums of `LANES` pixels (maybe still split by
/// channel parity, see [`Int8Simd::to_f32`]).
pub(super) trait Int8Simd: Simd {
    type X: Copy;
    type W: Copy;
    type Acc: Copy;
    fn zero(self) -> Self::Acc;
    /// # Safety
    /// `p` is valid for reading `2·LANES` values.
    unsafe fn load_pairs(self, p: *const i16) -> Self::X;
    /// # Safety
    /// `p` is valid for reading 2 values.
    unsafe fn splat_pair(self, p: *const i16) -> Self::W;
    /// `acc + x₀·w₀ + x₁·w₁` per pixel.
    fn multiply_add(self, acc: Self::Acc, x: Self::X, w: Self::W) -> Self::Acc;
    /// The sums as f32.
    fn to_f32(self, acc: Self::Acc) -> Self::V;
    /// Stores `round(a · inv)` and `round(b · inv)`, clamped to `[lo, hi]`, interleaved at `p`:
    /// `a₀ b₀ a₁ b₁ …`. Rounds half to even, a plain product first (no FMA), so every build
    /// gives the same levels.
    ///
    /// # Safety
    /// `p` is valid for writing `2·LANES` values.
    unsafe fn quantize_pairs(
        self,
        a: Self::V,
        b: Self::V,
        inv: Self::V,
        lo: i32,
        hi: i32,
        p: *mut i16,
    );
}

impl Int8Simd for Portable {
    type X = [i16; 2];
    type W = [i16; 2];
    type Acc = i32;
    #[inline(always)]
    fn zero(self) -> i32 {
        0
    }
    #[inline(always)]
    unsafe fn load_pairs(self, p: *const i16) -> [i16; 2] {
        // SAFETY: the caller guarantees two readable values.
        unsafe { [*p, *p.add(1)] }
    }
    #[inline(always)]
    unsafe fn splat_pair(self, p: *const i16) -> [i16; 2] {
        // SAFETY: as above.
        unsafe { [*p, *p.add(1)] }
    }
    #[inline(always)]
    fn multiply_add(self, acc: i32, x: [i16; 2], w: [i16; 2]) -> i32 {
        acc + i32::from(x[0]) * i32::from(w[0]) + i32::from(x[1]) * i32::from(w[1])
    }
    #[inline(always)]
    fn to_f32(self, acc: i32) -> f32 {
        acc as f32
    }
    #[inline(always)]
    unsafe fn quantize_pairs(self, a: f32, b: f32, inv: f32, lo: i32, hi: i32, p: *mut i16) {
        let level = |x: f32| ((x * inv).round_ties_even() as i32).clamp(lo, hi) as i16;
        // SAFETY: the caller guarantees two writable values.
        unsafe { (*p, *p.add(1)) = (level(a), level(b)) }
    }
}

// SAFETY (every block below): an `Avx2` exists only when the CPU has AVX2 and FMA; pointer
// validity is the caller's contract where the method is `unsafe`.
#[cfg(target_arch = "x86_64")]
impl Int8Simd for Avx2 {
    type X = __m256i;
    type W = __m256i;
    type Acc = __m256i;
    #[inline(always)]
    fn zero(self) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    unsafe fn load_pairs(self, p: *const i16) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }
    #[inline(always)]
    unsafe fn splat_pair(self, p: *const i16) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_set1_epi32(p.cast::<i32>().read_unaligned()) }
    }
    #[inline(always)]
    fn multiply_add(self, acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)) }
    }
    #[inline(always)]
    fn to_f32(self, acc: __m256i) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_cvtepi32_ps(acc) }
    }
    #[inline(always)]
    unsafe fn quantize_pairs(
        self,
        a: __m256,
        b: __m256,
        inv: __m256,
        lo: i32,
        hi: i32,
        p: *mut i16,
    ) {
        // SAFETY: see the impl.
        unsafe {
            // `cvtps` rounds half to even (the default MXCSR mode).
            let (lo, hi) = (_mm256_set1_epi32(lo), _mm256_set1_epi32(hi));
            let level = |x| {
                _mm256_min_epi32(
                    _mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(x, inv)), lo),
                    hi,
                )
            };
            // Each i32 lane: `a`'s level in the low i16, `b`'s in the high one.
            let pairs =
                _mm256_blend_epi16::<0b1010_1010>(level(a), _mm256_slli_epi32::<16>(level(b)));
            _mm256_storeu_si256(p.cast(), pairs)
        }
    }
}

// SAFETY (every block below): NEON is mandatory on aarch64; pointer validity is the caller's
// contract where the method is `unsafe`.
#[cfg(target_arch = "aarch64")]
impl Int8Simd for Neon {
    type X = int16x8_t;
    type W = int16x8_t;
    /// The products of even and of odd input channels are summed in separate lanes:
    /// `(pixels 0–1, pixels 2–3)`, each `[even, odd, even, odd]`.
    type Acc = (int32x4_t, int32x4_t);
    #[inline(always)]
    fn zero(self) -> (int32x4_t, int32x4_t) {
        // SAFETY: see the impl.
        unsafe { (vdupq_n_s32(0), vdupq_n_s32(0)) }
    }
    #[inline(always)]
    unsafe fn load_pairs(self, p: *const i16) -> int16x8_t {
        // SAFETY: see the impl.
        unsafe { vld1q_s16(p) }
    }
    #[inline(always)]
    unsafe fn splat_pair(self, p: *const i16) -> int16x8_t {
        // SAFETY: see the impl.
        unsafe { vreinterpretq_s16_s32(vld1q_dup_s32(p.cast())) }
    }
    #[inline(always)]
    fn multiply_add(
        self,
        acc: (int32x4_t, int32x4_t),
        x: int16x8_t,
        w: int16x8_t,
    ) -> (int32x4_t, int32x4_t) {
        // SAFETY: see the impl.
        unsafe {
            (
                vmlal_s16(acc.0, vget_low_s16(x), vget_low_s16(w)),
                vmlal_high_s16(acc.1, x, w),
            )
        }
    }
    #[inline(always)]
    fn to_f32(self, acc: (int32x4_t, int32x4_t)) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vcvtq_f32_s32(vpaddq_s32(acc.0, acc.1)) }
    }
    #[inline(always)]
    unsafe fn quantize_pairs(
        self,
        a: float32x4_t,
        b: float32x4_t,
        inv: float32x4_t,
        lo: i32,
        hi: i32,
        p: *mut i16,
    ) {
        // SAFETY: see the impl.
        unsafe {
            let (lo, hi) = (vdupq_n_s32(lo), vdupq_n_s32(hi));
            let level = |x| {
                vmovn_s32(vminq_s32(
                    vmaxq_s32(vcvtnq_s32_f32(vmulq_f32(x, inv)), lo),
                    hi,
                ))
            };
            vst2_s16(p, int16x4x2_t(level(a), level(b)))
        }
    }
}
