//! What the kernels of [`super::spatial`], [`super::pointwise`], [`super::upsample`] and
//! [`super::squeeze_excite`] share: the fused activation, the vector instructions they are
//! written in, and the choice of instruction set.
//!
//! The kernels are written once, generic over [`Simd`], a handful of vector operations with one
//! implementation per instruction set: AVX2 with FMA on x86_64 (8 lanes, chosen at run time when
//! the CPU has them), NEON on aarch64 (4 lanes, part of the base architecture) and a portable one
//! lane wide for everything else. Explicit vector types, not arrays of `f32` left to the
//! auto-vectoriser, because LLVM kept the arrays' loops scalar. Every operation is
//! `#[inline(always)]`, so a kernel instantiated inside a `#[target_feature]` function (see
//! [`dispatch!`]) compiles to straight vector code without calls.

#[cfg(target_arch = "aarch64")]
use std::arch::aarch64::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// An activation fused into a convolution's epilogue, after the bias.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Activation {
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `x · clamp(x/6 + ½, 0, 1)` (ONNX `HardSwish`).
    HardSwish,
}

impl Activation {
    #[inline(always)]
    pub fn apply<S: Simd>(self, s: S, x: S::V) -> S::V {
        match self {
            Activation::Identity => x,
            Activation::Relu => s.max(x, s.splat(0.0)),
            Activation::HardSwish => {
                let gate = s.mul_add(x, s.splat(1.0 / 6.0), s.splat(0.5));
                s.mul(x, s.min(s.max(gate, s.splat(0.0)), s.splat(1.0)))
            }
        }
    }
}

/// The vector operations the kernels are written in. A value of an implementing type is the
/// proof that the CPU runs its instructions, which is what makes the safe methods sound.
pub trait Simd: Copy {
    /// A vector of `LANES` f32.
    type V: Copy;
    const LANES: usize;
    /// Architectural vector registers: how large a block of accumulators fits.
    const REGISTERS: usize;
    fn splat(self, x: f32) -> Self::V;
    /// # Safety
    /// `p` is valid for reading `LANES` values.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// # Safety
    /// `p` is valid for writing `LANES` values.
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// The even- and the odd-indexed values of the `2·LANES` values at `p`.
    ///
    /// # Safety
    /// `p` is valid for reading `2·LANES` values.
    unsafe fn load_deinterleaved(self, p: *const f32) -> (Self::V, Self::V);
    /// Stores `a` and `b` interleaved at `p`: `a₀ b₀ a₁ b₁ …`.
    ///
    /// # Safety
    /// `p` is valid for writing `2·LANES` values.
    unsafe fn store_interleaved(self, p: *mut f32, a: Self::V, b: Self::V);
    /// `a·b + c`, fused where the instruction set has it.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// The sum of the lanes.
    fn sum(self, v: Self::V) -> f32;
}

/// One lane of plain f32 arithmetic: any target, and the tests' reference for the others. The
/// multiply-add is not fused: without hardware FMA `f32::mul_add` is a slow library call.
#[derive(Debug, Clone, Copy)]
pub struct Portable;

impl Simd for Portable {
    type V = f32;
    const LANES: usize = 1;
    const REGISTERS: usize = 16;
    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> f32 {
        // SAFETY: the caller guarantees `p` is readable.
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: f32) {
        // SAFETY: the caller guarantees `p` is writable.
        unsafe { *p = v }
    }
    #[inline(always)]
    unsafe fn load_deinterleaved(self, p: *const f32) -> (f32, f32) {
        // SAFETY: the caller guarantees two readable values at `p`.
        unsafe { (*p, *p.add(1)) }
    }
    #[inline(always)]
    unsafe fn store_interleaved(self, p: *mut f32, a: f32, b: f32) {
        // SAFETY: the caller guarantees two writable values at `p`.
        unsafe { (*p, *p.add(1)) = (a, b) }
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        a.max(b)
    }
    #[inline(always)]
    fn min(self, a: f32, b: f32) -> f32 {
        a.min(b)
    }
    #[inline(always)]
    fn sum(self, v: f32) -> f32 {
        v
    }
}

/// AVX2 and FMA: 8 lanes, 16 registers.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// `Some` when this CPU has AVX2 and FMA.
    pub fn detect() -> Option<Avx2> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Avx2(()))
    }
}

// SAFETY (every block below): an `Avx2` exists only when the CPU has AVX2 and FMA; pointer
// validity is the caller's contract where the method is `unsafe`.
#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    type V = __m256;
    const LANES: usize = 8;
    const REGISTERS: usize = 16;
    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: see the impl.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load_deinterleaved(self, p: *const f32) -> (__m256, __m256) {
        // SAFETY: see the impl.
        unsafe {
            let (a, b) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
            // Per 128-bit half: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit pairs reordered.
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let odd = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let order =
                |v| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
            (order(even), order(odd))
        }
    }
    #[inline(always)]
    unsafe fn store_interleaved(self, p: *mut f32, a: __m256, b: __m256) {
        // SAFETY: see the impl.
        unsafe {
            // Per 128-bit half: [a0 b0 a1 b1 | a4 b4 a5 b5] and [a2 b2 a3 b3 | a6 b6 a7 b7].
            let (low, high) = (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
            _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(low, high));
            _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(low, high));
        }
    }
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    fn min(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    fn sum(self, v: __m256) -> f32 {
        // SAFETY: see the impl.
        unsafe {
            let half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
            _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)))
        }
    }
}

/// NEON: 4 lanes, 32 registers; part of the aarch64 base architecture, so always available.
#[cfg(target_arch = "aarch64")]
#[derive(Debug, Clone, Copy)]
pub struct Neon;

// SAFETY (every block below): NEON is mandatory on aarch64; pointer validity is the caller's
// contract where the method is `unsafe`.
#[cfg(target_arch = "aarch64")]
impl Simd for Neon {
    type V = float32x4_t;
    const LANES: usize = 4;
    const REGISTERS: usize = 32;
    #[inline(always)]
    fn splat(self, x: f32) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: float32x4_t) {
        // SAFETY: see the impl.
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn load_deinterleaved(self, p: *const f32) -> (float32x4_t, float32x4_t) {
        // SAFETY: see the impl.
        let pair = unsafe { vld2q_f32(p) };
        (pair.0, pair.1)
    }
    #[inline(always)]
    unsafe fn store_interleaved(self, p: *mut f32, a: float32x4_t, b: float32x4_t) {
        // SAFETY: see the impl.
        unsafe { vst2q_f32(p, float32x4x2_t(a, b)) }
    }
    #[inline(always)]
    fn mul_add(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn max(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vmaxq_f32(a, b) }
    }
    #[inline(always)]
    fn min(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the impl.
        unsafe { vminq_f32(a, b) }
    }
    #[inline(always)]
    fn sum(self, v: float32x4_t) -> f32 {
        // SAFETY: see the impl.
        unsafe { vaddvq_f32(v) }
    }
}

/// Whether [`dispatch!`]ed kernels run vector code on this CPU (AVX2 and FMA, or NEON), not the
/// one-lane [`Portable`] build.
pub fn simd_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        Avx2::detect().is_some()
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Defines `$name($args)`, calling `$generic(isa, $args)` with the best [`Simd`] of this CPU:
/// [`Avx2`] inside a `#[target_feature(enable = "avx2,fma")]` function when the CPU has them,
/// [`Neon`] on aarch64, [`Portable`] otherwise; plus `$portable($args)`, the [`Portable`] build,
/// for the tests to compare.
macro_rules! dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident / $portable:ident = $generic:ident ($($arg:ident : $ty:ty),* $(,)?)) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(isa) = $crate::model::kernel::Avx2::detect() {
                    #[target_feature(enable = "avx2,fma")]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn avx2(isa: $crate::model::kernel::Avx2, $($arg: $ty),*) {
                        $generic(isa, $($arg),*)
                    }
                    // SAFETY: `isa` exists, so the CPU has AVX2 and FMA.
                    return unsafe { avx2(isa, $($arg),*) };
                }
                $generic($crate::model::kernel::Portable, $($arg),*)
            }
            #[cfg(target_arch = "aarch64")]
            {
                $generic($crate::model::kernel::Neon, $($arg),*)
            }
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            {
                $generic($crate::model::kernel::Portable, $($arg),*)
            }
        }

        /// The [`Portable`](crate::model::kernel::Portable) build of the same kernel, for tests.
        #[cfg(test)]
        #[allow(clippy::too_many_arguments)]
        $vis fn $portable($($arg: $ty),*) {
            $generic($crate::model::kernel::Portable, $($arg),*)
        }
    };
}
pub(crate) use dispatch;

/// Inputs and outputs of the kernels' tests against tract's reference ops.
#[cfg(test)]
pub(crate) mod testing {
    use tract_onnx::prelude::*;

    use crate::model::ModelKind;

    /// An embedded model decluttered as tract does by default, or keeping the NCHW layout as
    /// `optimise` does: what the rewrites are tested on.
    pub fn decluttered(kind: ModelKind, keep_layout: bool) -> TypedModel {
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut kind.embedded().unwrap())
            .unwrap()
            .with_input_fact(0, f32::fact(kind.input_shape()).into())
            .unwrap()
            .into_typed()
            .unwrap();
        if keep_layout {
            crate::model::declutter_keeping_layout(&mut model).unwrap();
        } else {
            model.declutter().unwrap();
        }
        model
    }

    /// The first output of `model` on `input`.
    pub fn run(model: TypedModel, input: &Tensor) -> Tensor {
        let plan = model.into_runnable().unwrap();
        plan.run(tvec!(input.clone().into_tvalue())).unwrap()[0]
            .clone()
            .into_tensor()
    }

    pub fn values(t: &Tensor) -> &[f32] {
        t.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap()
    }

    /// Deterministic values in [-1, 1] (xorshift), so a failing case reruns the same.
    pub fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut state = seed | 1;
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        Tensor::from_shape(shape, &values).unwrap()
    }
}
