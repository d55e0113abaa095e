//! What this build and this CPU bring to inference: the compile target, the CPU features found
//! at run time, and the kernels tract picks from them.
//!
//! One aarch64 binary serves the Pi 4 (Cortex-A72: NEON only), the Pi 5 (Cortex-A76: + fp16,
//! dotprod) and Jetson; tract probes the CPU when it starts and dispatches to the best kernels it
//! has, so the same file runs faster on the newer board. This module reports that choice, which is
//! the first thing to look at when a board is slower than expected.
//!
//! ## Examples
//! ```
//! let platform = bodyzone::platform::Platform::probe();
//! assert!(platform.target.starts_with(std::env::consts::ARCH));
//! println!("tract dispatches for {}", platform.tract.isa);
//! ```
//!
//! ## Troubleshooting
//! ### `Illegal instruction` on the board
//! The binary was built for a newer core than this one (e.g. `-C target-cpu=cortex-a76`, the Pi 5
//! build, on a Pi 4): `compiled for` in `bodyzone info` lists what it assumes. Use the baseline
//! build, which needs nothing beyond NEON.
//! ### On a Pi 5, tract's isa lacks `fp16` or `dotprod`
//! `TRACT_CPU_ISA` is set and removes features (`-fp16`), or the kernel is too old to report
//! them: `grep -o 'asimddp\|fphp' /proc/cpuinfo` must print both.

use serde::Serialize;
use tract_onnx::prelude::DatumType;
use tract_onnx::prelude::tract_linalg::{
    self, MmmDispatch,
    isa::IsaSet,
    mmm::Query,
    routines::{self, Func},
};

/// A CPU feature that matters to the kernels, and whether this CPU has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuFeature {
    pub name: &'static str,
    /// Found at run time (`is_*_feature_detected!`).
    pub detected: bool,
    /// Assumed by the compiled code (`-C target-cpu` / `target-feature`): the binary needs it.
    pub compiled_in: bool,
}

/// The kernel tract runs for one function on this CPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernel {
    pub function: String,
    pub kernel: String,
}

/// tract's view of this machine and what it dispatches to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TractKernels {
    /// Instruction sets tract found (after any `TRACT_CPU_ISA` override), e.g. `aarch64,fp16,dotprod`.
    /// tract reads fp16 from `/proc/cpuinfo` and dotprod from the auxiliary vector, so under
    /// qemu-user (which shows the host's cpuinfo) it can miss fp16 that `cpu_features` reports.
    pub isa: String,
    /// Matrix-multiplication kernels: f32 matmul and matrix×vector, f16 where the CPU computes
    /// in f16, int8.
    pub matmul: Vec<Kernel>,
    /// Element-wise and reduction kernels for f32.
    pub routines: Vec<Kernel>,
}

/// Everything `bodyzone info` says about the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// The compile target, `arch-vendor-os-env`.
    pub target: String,
    pub cpu_features: Vec<CpuFeature>,
    pub tract: TractKernels,
}

impl Platform {
    /// Probes this machine. Cheap (tract caches its probe); safe to call more than once.
    pub fn probe() -> Platform {
        Platform {
            target: target(),
            cpu_features: cpu_features(),
            tract: tract_kernels(),
        }
    }
}

/// The target triple this binary was built for, from the compiler's `cfg`s.
pub fn target() -> String {
    let mut triple = format!(
        "{}-{TARGET_VENDOR}-{}",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    if !TARGET_ENV.is_empty() {
        triple.push('-');
        triple.push_str(TARGET_ENV);
    }
    triple
}

const TARGET_VENDOR: &str = if cfg!(target_vendor = "apple") {
    "apple"
} else if cfg!(target_vendor = "pc") {
    "pc"
} else {
    "unknown"
};

const TARGET_ENV: &str = if cfg!(target_env = "gnu") {
    "gnu"
} else if cfg!(target_env = "musl") {
    "musl"
} else if cfg!(target_env = "msvc") {
    "msvc"
} else {
    ""
};

macro_rules! features {
    ($detect:ident: $($name:tt),* $(,)?) => {
        vec![$(CpuFeature {
            name: $name,
            detected: std::arch::$detect!($name),
            compiled_in: cfg!(target_feature = $name),
        }),*]
    };
}

/// The features tract has kernels for on this architecture.
#[cfg(target_arch = "aarch64")]
fn cpu_features() -> Vec<CpuFeature> {
    // NEON (asimd) is baseline on aarch64; fp16 and dotprod come with ARMv8.2 (Pi 5, Jetson
    // Orin), i8mm/bf16 with ARMv8.6, SVE2/SME on ARMv9 cores.
    features!(is_aarch64_feature_detected: "neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2")
}

#[cfg(target_arch = "x86_64")]
fn cpu_features() -> Vec<CpuFeature> {
    features!(is_x86_feature_detected: "avx", "avx2", "fma", "f16c", "avx512f", "avx512vnni")
}

#[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
fn cpu_features() -> Vec<CpuFeature> {
    Vec::new()
}

fn tract_kernels() -> TractKernels {
    let isa = tract_linalg::isa::native();
    let dispatch = MmmDispatch::native();
    let mut matmul = Vec::new();
    let mut queries = vec![
        ("matmul f32", Query::plain(DatumType::F32, None, None, None)),
        (
            "matvec f32",
            Query::plain(DatumType::F32, None, None, Some(1)),
        ),
    ];
    if isa.fp16_arithmetic() {
        queries.push(("matmul f16", Query::plain(DatumType::F16, None, None, None)));
    }
    queries.push((
        "matmul i8→i32",
        Query::plain(DatumType::I32, None, None, None),
    ));
    for (function, query) in queries {
        if let Some((mmm, _, _)) = dispatch.pick(&query) {
            matmul.push(Kernel {
                function: function.to_owned(),
                kernel: mmm.name().to_owned(),
            });
        }
    }
    TractKernels {
        isa: format!("{isa:?}"),
        matmul,
        routines: f32_routines(&isa),
    }
}

/// The f32 routines the selfie and pose models lean on (activations, softmax, reductions,
/// element-wise arithmetic, depthwise convolution), with the kernel picked for each.
fn f32_routines(isa: &IsaSet) -> Vec<Kernel> {
    Func::ALL
        .iter()
        .filter_map(|&func| {
            routines::best_for(func, DatumType::F32, isa).map(|routine| Kernel {
                function: func.name().to_owned(),
                kernel: routine.name().to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_this_architecture_and_os() {
        let target = target();
        assert!(target.starts_with(std::env::consts::ARCH), "{target}");
        assert!(target.contains(std::env::consts::OS), "{target}");
    }

    #[test]
    fn a_feature_compiled_in_is_detected() {
        // The binary could not be running otherwise.
        for feature in cpu_features() {
            assert!(!feature.compiled_in || feature.detected, "{feature:?}");
        }
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn neon_is_baseline_on_aarch64() {
        let neon = cpu_features()
            .into_iter()
            .find(|f| f.name == "neon")
            .unwrap();
        assert!(neon.detected && neon.compiled_in);
    }

    #[test]
    fn tract_names_this_architecture_and_an_f32_matmul_kernel() {
        let tract = tract_kernels();
        assert!(
            tract.isa.starts_with(std::env::consts::ARCH),
            "{}",
            tract.isa
        );
        let f32_mm = tract
            .matmul
            .iter()
            .find(|k| k.function == "matmul f32")
            .unwrap();
        assert!(!f32_mm.kernel.is_empty());
        assert!(tract.routines.iter().any(|k| k.function == "sigmoid"));
    }
}
