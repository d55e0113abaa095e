//! The selfie models' last layer — a 2×2, stride-2 transposed convolution to the mask's logits,
//! then a sigmoid — as one op: [`TransposedConv2x2`].
//!
//! tract lowers a transposed convolution into a reshape, a packing pass over the whole input, a
//! matrix product into a buffer of every tap's contribution (four times the output) and a
//! `DeconvSum` that scatters it back, then runs the `Sigmoid` as a fifth node: four buffers of up
//! to 0.8 MB allocated per frame and as many passes over them. With the kernel as large as the
//! stride every output pixel takes exactly one tap, so each pair of output rows is a weighted sum
//! of the input channels' row, its even and odd columns the two horizontal taps: eight vector
//! accumulators (two rows × two taps × two vectors) over the channels, stored interleaved.

use std::sync::Arc;

use tract_linalg::routines::Func;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Deconv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::nn::{DataFormat, Sigmoid};

use super::custom::{Replacement, WriteOutput, eval_op, f32s, replace_matches};
use super::kernel::{Simd, dispatch};
use super::pointwise::only_consumer;

/// `[1, I, H, W]` f32 → `[1, O, 2H, 2W]`: `out[o, 2y + dy, 2x + dx] = bias[o] + Σ_i
/// kernel[o, i, dy, dx] · x[i, y, x]`, then the sigmoid if `sigmoid`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct TransposedConv2x2 {
    /// `[O, I, 2, 2]`.
    pub kernel: Arc<Tensor>,
    /// `[O]`.
    pub bias: Arc<Tensor>,
    pub sigmoid: bool,
}

impl TransposedConv2x2 {
    fn channels(&self) -> (usize, usize) {
        (self.kernel.shape()[1], self.kernel.shape()[0])
    }
}

impl Op for TransposedConv2x2 {
    fn name(&self) -> StaticName {
        "TransposedConv2x2".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let (i, o) = self.channels();
        Ok(vec![format!(
            "{i}→{o}{}",
            if self.sigmoid { " sigmoid" } else { "" }
        )])
    }

    op_as_typed_op!();
}

eval_op!(TransposedConv2x2);

impl WriteOutput for TransposedConv2x2 {
    fn output_shape(&self, inputs: &[TValue]) -> TractResult<TVec<usize>> {
        let &[1, i, h, w] = inputs[0].shape() else {
            bail!(
                "TransposedConv2x2 wants [1, I, H, W], got {:?}",
                inputs[0].shape()
            );
        };
        let (in_channels, out_channels) = self.channels();
        ensure!(i == in_channels);
        Ok(tvec![1, out_channels, 2 * h, 2 * w])
    }

    fn write(&self, inputs: &[TValue], output: &mut [f32], _: &mut Vec<f32>) -> TractResult<()> {
        let shape = inputs[0].shape();
        transposed_conv(
            (shape[2], shape[3]),
            f32s(&inputs[0])?,
            f32s(&self.kernel)?,
            f32s(&self.bias)?,
            output,
        );
        if self.sigmoid {
            Func::Sigmoid.ew_f32()?.run(output)?;
        }
        Ok(())
    }
}

impl TypedOp for TransposedConv2x2 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        ensure!(input.datum_type == f32::datum_type() && input.rank() == 4);
        let s = &input.shape;
        Ok(tvec!(f32::fact([
            s[0].clone(),
            self.channels().1.to_dim(),
            s[2].clone() * 2,
            s[3].clone() * 2
        ])))
    }

    as_op!();
}

dispatch! {
    /// [`TransposedConv2x2`] without the sigmoid, on `src` of `I` planes `h × w`.
    pub fn transposed_conv / transposed_conv_portable = transposed_generic(
        size: (usize, usize),
        src: &[f32],
        kernel: &[f32],
        bias: &[f32],
        dst: &mut [f32],
    )
}

#[inline(always)]
fn transposed_generic<S: Simd>(
    s: S,
    (h, w): (usize, usize),
    src: &[f32],
    kernel: &[f32],
    bias: &[f32],
    dst: &mut [f32],
) {
    let in_channels = kernel.len() / (4 * bias.len());
    let plane = h * w;
    assert!(src.len() == in_channels * plane && dst.len() == 4 * bias.len() * plane);
    let block = 2 * S::LANES;
    for ((out, taps), &b) in dst
        .chunks_exact_mut(4 * plane)
        .zip(kernel.chunks_exact(4 * in_channels))
        .zip(bias)
    {
        for y in 0..h {
            let (top, bottom) = out[4 * y * w..][..4 * w].split_at_mut(2 * w);
            let whole = w - w % block;
            for x in (0..whole).step_by(block) {
                // [dy][dx][vector]
                let mut acc = [[[s.splat(b); 2]; 2]; 2];
                for (i, tap) in taps.chunks_exact(4).enumerate() {
                    let at = i * plane + y * w + x;
                    // SAFETY: `x + block ≤ w`, so both vectors lie in row `y` of plane `i`.
                    let v = unsafe {
                        [
                            s.load(src.as_ptr().add(at)),
                            s.load(src.as_ptr().add(at + S::LANES)),
                        ]
                    };
                    for (dy, acc) in acc.iter_mut().enumerate() {
                        for (dx, acc) in acc.iter_mut().enumerate() {
                            let k = s.splat(tap[2 * dy + dx]);
                            for (acc, &v) in acc.iter_mut().zip(&v) {
                                *acc = s.mul_add(v, k, *acc);
                            }
                        }
                    }
                }
                for (row, [even, odd]) in [&mut *top, &mut *bottom].into_iter().zip(acc) {
                    for j in 0..2 {
                        // SAFETY: `2·(x + block) ≤ 2w`, the row's length.
                        unsafe {
                            s.store_interleaved(
                                row.as_mut_ptr().add(2 * (x + j * S::LANES)),
                                even[j],
                                odd[j],
                            )
                        };
                    }
                }
            }
            for x in whole..w {
                for (dy, row) in [&mut *top, &mut *bottom].into_iter().enumerate() {
                    for dx in 0..2 {
                        row[2 * x + dx] = taps
                            .chunks_exact(4)
                            .enumerate()
                            .map(|(i, tap)| tap[2 * dy + dx] * src[i * plane + y * w + x])
                            .fold(b, |sum, t| sum + t);
                    }
                }
            }
        }
    }
}

/// Replaces every f32 NCHW `Deconv` with a constant 2×2 kernel at stride 2 (no padding, no
/// dilation, one group), and a following `Sigmoid` that is its only consumer, by a
/// [`TransposedConv2x2`]. Returns how many were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    replace_matches(model, |model, id| {
        let node = model.node(id);
        let Some(deconv) = node.op_as::<Deconv>() else {
            return Ok(None);
        };
        let spec = &deconv.pool_spec;
        let unpadded = match &spec.padding {
            PaddingSpec::Valid => true,
            PaddingSpec::Explicit(before, after) => before.iter().chain(after).all(|&p| p == 0),
            _ => false,
        };
        let facts = model.node_input_facts(id)?;
        if spec.data_format != DataFormat::NCHW
            || *spec.kernel_shape != [2, 2]
            || *spec.strides() != [2, 2]
            || spec.dilations().iter().any(|&d| d != 1)
            || !unpadded
            || deconv.adjustments.iter().any(|&a| a != 0)
            || deconv.group != 1
            || deconv.kernel_format != KernelFormat::OIHW
            || facts.len() != 3
            || facts[0].datum_type != f32::datum_type()
            || facts[0].rank() != 4
            || facts[0].shape[0] != 1.to_dim()
        {
            return Ok(None);
        }
        let (Some(kernel), Some(bias)) = (facts[1].konst.clone(), facts[2].konst.clone()) else {
            return Ok(None);
        };
        let out_channels = kernel.shape()[0];
        if kernel.datum_type() != f32::datum_type()
            || kernel.rank() != 4
            || bias.datum_type() != f32::datum_type()
            || bias.len() != out_channels
        {
            return Ok(None);
        }
        let sigmoid = only_consumer(model, id).filter(|&next| {
            model
                .node(next)
                .op_as::<ElementWiseOp>()
                .is_some_and(|e| e.0.is::<Sigmoid>())
        });
        let op = TransposedConv2x2 {
            kernel,
            bias: bias
                .into_tensor()
                .into_shape(&[out_channels])?
                .into_arc_tensor(),
            sigmoid: sigmoid.is_some(),
        };
        Ok(Some(Replacement {
            op,
            inputs: tvec!(node.inputs[0]),
            last: sigmoid.unwrap_or(id),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;
    use crate::model::kernel::testing::{decluttered, random, run, values};

    /// The selfie model's last layers, decluttered by tract, before and after the rewrite.
    #[test]
    fn the_selfie_heads_match_tract() {
        for kind in [ModelKind::SelfieLandscape, ModelKind::SelfieGeneral] {
            let mut model = decluttered(kind, true);
            let input = random(&kind.input_shape(), 7);
            let sigmoids = |model: &TypedModel| {
                let is_sigmoid = |n: &TypedNode| {
                    n.op_as::<ElementWiseOp>()
                        .is_some_and(|e| e.0.is::<Sigmoid>())
                };
                model.nodes().iter().filter(|n| is_sigmoid(n)).count()
            };
            let expected = run(model.clone(), &input);
            let before = sigmoids(&model);
            assert_eq!(rewrite(&mut model).unwrap(), 1, "{kind}");
            assert!(model.nodes().iter().all(|n| n.op_as::<Deconv>().is_none()));
            assert_eq!(sigmoids(&model), before - 1, "{kind}: the sigmoid is fused");
            let got = run(model, &input);
            for (a, b) in values(&got).iter().zip(values(&expected)) {
                assert!((a - b).abs() < 1e-5, "{kind}: {a} vs {b}");
            }
        }
    }

    type Kernel = fn((usize, usize), &[f32], &[f32], &[f32], &mut [f32]);

    proptest::proptest! {
        #[test]
        fn portable_and_simd_builds_agree(
            i in 1usize..20, o in 1usize..3, h in 1usize..5, w in 1usize..45,
        ) {
            let src = random(&[i, h, w], (i * h * w) as u64);
            let kernel = random(&[o, i, 2, 2], 3);
            let bias = random(&[o], 5);
            let go = |f: Kernel| {
                let mut out = vec![0f32; 4 * o * h * w];
                f((h, w), values(&src), values(&kernel), values(&bias), &mut out);
                out
            };
            let (k, bias_values, x) = (values(&kernel), values(&bias), values(&src));
            let mut expected = vec![0f64; 4 * o * h * w];
            for (at, e) in expected.iter_mut().enumerate() {
                let (xx, dx) = (at % (2 * w) / 2, at % 2);
                let (y, dy) = (at / (2 * w) % (2 * h) / 2, at / (2 * w) % 2);
                let oc = at / (4 * h * w);
                *e = f64::from(bias_values[oc])
                    + (0..i)
                        .map(|ic| {
                            f64::from(k[((oc * i + ic) * 2 + dy) * 2 + dx])
                                * f64::from(x[(ic * h + y) * w + xx])
                        })
                        .sum::<f64>();
            }
            for got in [go(transposed_conv), go(transposed_conv_portable)] {
                for (g, e) in got.iter().zip(&expected) {
                    proptest::prop_assert!((f64::from(*g) - e).abs() <= 1e-5 * (1.0 + e.abs()), "{g} vs {e}");
                }
            }
        }
    }
}
