//! What the convolution kernels of [`super::spatial`] and [`super::pointwise`] share: the fused
//! activation and the choice of instruction set.
//!
//! The kernels are written once, over fixed-size arrays of lanes that LLVM keeps in vector
//! registers, and compiled twice on x86_64: with AVX2 and FMA enabled (chosen at run time when the
//! CPU has them) and for the baseline (SSE2, no fused multiply-add). On aarch64 NEON and FMA are
//! part of the base architecture, so the one build is the NEON kernel. `FMA` selects
//! `f32::mul_add`, which is one instruction where the target has it and a slow library call where
//! it does not: hence the baseline build uses a separate multiply and add.

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
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::HardSwish => x * (x * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0),
        }
    }
}

/// `a·b + c`, fused when the kernel is compiled for a target with FMA.
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Whether this CPU runs the kernels' FMA build: x86_64 with AVX2 and FMA, or aarch64 (always).
pub fn fma_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
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

/// Defines `$name($args) -> ()` calling `$generic::<true>` through an AVX2+FMA build when
/// [`fma_kernels`] says so, `$generic::<true>` directly on aarch64, and `$generic::<false>`
/// otherwise; plus `$portable`, the baseline build, for the tests to compare.
macro_rules! dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident / $portable:ident = $generic:ident ($($arg:ident : $ty:ty),* $(,)?)) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                if $crate::model::kernel::fma_kernels() {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
                $generic::<false>($($arg),*)
            }
            #[cfg(target_arch = "aarch64")]
            {
                $generic::<true>($($arg),*)
            }
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            {
                $generic::<false>($($arg),*)
            }
        }

        /// The baseline build of the same kernel (no FMA, no AVX), for tests.
        #[cfg(test)]
        #[allow(clippy::too_many_arguments)]
        $vis fn $portable($($arg: $ty),*) {
            $generic::<false>($($arg),*)
        }
    };
}
pub(crate) use dispatch;

/// Inputs and outputs of the kernels' tests against tract's reference ops.
#[cfg(test)]
pub(crate) mod testing {
    use tract_onnx::prelude::Tensor;

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
