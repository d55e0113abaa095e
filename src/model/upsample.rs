//! Bilinear ×2 upsampling of NCHW planes, replacing tract's generic `Resize` where the selfie
//! decoders use it.
//!
//! The selfie models' decoders upsample three times by 2 with ONNX `Resize` (linear,
//! `half_pixel`). tract evaluates that op axis by axis through a generic resampling plan with a
//! gather per tap and copies of the whole tensor between axes: 41% of the landscape model's time
//! for work that is a few multiply-adds per output. At ×2 with half-pixel centres the taps are
//! fixed: output `2k` is `¾·in[k] + ¼·in[k−1]`, output `2k+1` is `¾·in[k] + ¼·in[k+1]`, with the
//! neighbour clamped to the edge (ONNX clamps the source coordinate). So each plane is one pass:
//! blend two input rows vertically, then spread the blended row horizontally into two output
//! columns per input column, interleaved in vector registers.
//!
//! [`rewrite`] swaps the op in a decluttered model; the result is checked against tract's own
//! `Resize` on random inputs in the tests.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::nn::resize::{CoordTransformer, Interpolator, Resize};

use super::custom::{Replacement, WriteOutput, eval_op, f32s, replace_matches};
use super::kernel::{Simd, dispatch};

/// `[N, C, H, W]` f32 → `[N, C, 2H, 2W]`, bilinear with half-pixel centres and edge clamping
/// (ONNX `Resize`, `mode=linear`, `coordinate_transformation_mode=half_pixel`, scales 1, 1, 2, 2).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct BilinearUpsample2x;

impl Op for BilinearUpsample2x {
    fn name(&self) -> StaticName {
        "BilinearUpsample2x".into()
    }

    op_as_typed_op!();
}

eval_op!(BilinearUpsample2x);

impl WriteOutput for BilinearUpsample2x {
    fn output_shape(&self, inputs: &[TValue]) -> TractResult<TVec<usize>> {
        let &[n, c, h, w] = inputs[0].shape() else {
            bail!("BilinearUpsample2x wants NCHW, got {:?}", inputs[0].shape());
        };
        Ok(tvec![n, c, 2 * h, 2 * w])
    }

    fn write(&self, inputs: &[TValue], output: &mut [f32], row: &mut Vec<f32>) -> TractResult<()> {
        let shape = inputs[0].shape();
        upsample_planes(f32s(&inputs[0])?, shape[2], shape[3], row, output);
        Ok(())
    }
}

impl TypedOp for BilinearUpsample2x {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].rank() == 4 && inputs[0].datum_type == f32::datum_type());
        let s = &inputs[0].shape;
        Ok(tvec!(f32::fact([
            s[0].clone(),
            s[1].clone(),
            s[2].clone() * 2,
            s[3].clone() * 2
        ])))
    }

    as_op!();
}

dispatch! {
    /// Every plane of `src` (`h × w` each) upsampled into `dst` (`2h × 2w` each).
    pub fn upsample_planes / upsample_planes_portable = upsample_generic(
        src: &[f32],
        h: usize,
        w: usize,
        row: &mut Vec<f32>,
        dst: &mut [f32],
    )
}

#[inline(always)]
fn upsample_generic<S: Simd>(
    s: S,
    src: &[f32],
    h: usize,
    w: usize,
    row: &mut Vec<f32>,
    dst: &mut [f32],
) {
    row.clear();
    row.resize(w, 0.0);
    for (plane, out) in src.chunks_exact(h * w).zip(dst.chunks_exact_mut(4 * h * w)) {
        for y in 0..h {
            let here = &plane[y * w..][..w];
            let above = &plane[y.saturating_sub(1) * w..][..w];
            let below = &plane[(y + 1).min(h - 1) * w..][..w];
            let (top, bottom) = out[2 * y * 2 * w..][..4 * w].split_at_mut(2 * w);
            blend(s, here, above, row);
            spread(s, row, top);
            blend(s, here, below, row);
            spread(s, row, bottom);
        }
    }
}

/// `out = ¾·near + ¼·far`, the weights of a half-pixel ×2 tap.
#[inline(always)]
fn blend<S: Simd>(s: S, near: &[f32], far: &[f32], out: &mut [f32]) {
    let n = out.len();
    assert!(near.len() >= n && far.len() >= n);
    let (three_quarters, quarter) = (s.splat(0.75), s.splat(0.25));
    let mut x = 0;
    while x + S::LANES <= n {
        // SAFETY: `x + LANES ≤ n`, within all three slices (asserted).
        unsafe {
            let far = s.mul(quarter, s.load(far.as_ptr().add(x)));
            let v = s.mul_add(three_quarters, s.load(near.as_ptr().add(x)), far);
            s.store(out.as_mut_ptr().add(x), v);
        }
        x += S::LANES;
    }
    for ((o, &a), &b) in out[x..].iter_mut().zip(&near[x..]).zip(&far[x..]) {
        *o = 0.75 * a + 0.25 * b;
    }
}

/// One row of `w` values → `2w`: each value blended with its left then its right neighbour,
/// the pairs of outputs interleaved in registers.
#[inline(always)]
fn spread<S: Simd>(s: S, row: &[f32], out: &mut [f32]) {
    let w = row.len();
    assert_eq!(out.len(), 2 * w);
    let (three_quarters, quarter) = (s.splat(0.75), s.splat(0.25));
    out[0] = row[0];
    let mut x = 1;
    while x + S::LANES <= w {
        // SAFETY: loads end at `x + LANES ≤ w`, the store at `2(x + LANES) − 1 < 2w`.
        unsafe {
            let (l, r) = (s.load(row.as_ptr().add(x - 1)), s.load(row.as_ptr().add(x)));
            let left = s.mul_add(three_quarters, l, s.mul(quarter, r));
            let right = s.mul_add(three_quarters, r, s.mul(quarter, l));
            s.store_interleaved(out.as_mut_ptr().add(2 * x - 1), left, right);
        }
        x += S::LANES;
    }
    for x in x..w {
        let (l, r) = (row[x - 1], row[x]);
        out[2 * x - 1] = 0.75 * l + 0.25 * r;
        out[2 * x] = 0.75 * r + 0.25 * l;
    }
    out[2 * w - 1] = row[w - 1];
}

/// Replaces every f32 `Resize` that is a bilinear half-pixel ×2 upsampling of the last two axes
/// of an NCHW tensor by [`BilinearUpsample2x`]. Returns how many were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    replace_matches(model, |model, id| {
        let node = model.node(id);
        let Some(resize) = node.op_as::<Resize>() else {
            return Ok(None);
        };
        if resize.interpolator != Interpolator::Linear
            || resize.coord_transformer != CoordTransformer::HalfPixel
        {
            return Ok(None);
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let output = model.outlet_fact(OutletId::new(id, 0))?;
        if input.datum_type != f32::datum_type() || input.rank() != 4 {
            return Ok(None);
        }
        let (i, o) = (&input.shape, &output.shape);
        let doubled =
            i[0] == o[0] && i[1] == o[1] && i[2].clone() * 2 == o[2] && i[3].clone() * 2 == o[3];
        if !doubled {
            return Ok(None);
        }
        Ok(Some(Replacement {
            op: BilinearUpsample2x,
            inputs: tvec!(node.inputs[0]),
            last: id,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// tract's own op for the same resampling.
    fn reference(input: &Tensor) -> Tensor {
        let shape = input.shape();
        let sizes = tensor1(&[
            shape[0] as i64,
            shape[1] as i64,
            2 * shape[2] as i64,
            2 * shape[3] as i64,
        ]);
        let op = Resize {
            coord_transformer: CoordTransformer::HalfPixel,
            interpolator: Interpolator::Linear,
            nearest: tract_onnx::tract_core::ops::nn::resize::Nearest::Floor,
            optional_scales_input: None,
            optional_sizes_input: Some(1),
        };
        op.eval(
            &EvalContext::out_of_plan(),
            tvec!(input.clone().into_tvalue(), sizes.into_tvalue()),
        )
        .unwrap()
        .remove(0)
        .into_tensor()
    }

    fn ours(input: &Tensor) -> Tensor {
        BilinearUpsample2x
            .eval(
                &EvalContext::out_of_plan(),
                tvec!(input.clone().into_tvalue()),
            )
            .unwrap()
            .remove(0)
            .into_tensor()
    }

    proptest! {
        #[test]
        fn matches_tract_resize(
            (n, c, h, w, values) in (1usize..3, 1usize..5, 1usize..9, 1usize..40)
                .prop_flat_map(|(n, c, h, w)| {
                    (Just(n), Just(c), Just(h), Just(w),
                     prop::collection::vec(-100f32..100.0, n * c * h * w))
                })
        ) {
            let input = Tensor::from_shape(&[n, c, h, w], &values).unwrap();
            let (expected, got) = (reference(&input), ours(&input));
            prop_assert_eq!(expected.shape(), got.shape());
            let e = expected.try_as_plain_ram().unwrap();
            let g = got.try_as_plain_ram().unwrap();
            for (a, b) in e.as_slice::<f32>().unwrap().iter().zip(g.as_slice::<f32>().unwrap()) {
                prop_assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{} vs {}", a, b);
            }
        }
    }

    proptest! {
        #[test]
        fn portable_and_simd_builds_agree(c in 1usize..4, h in 1usize..9, w in 1usize..40) {
            let input = crate::model::kernel::testing::random(&[c, h, w], (c * h * w) as u64);
            let src = crate::model::kernel::testing::values(&input);
            let go = |f: fn(&[f32], usize, usize, &mut Vec<f32>, &mut [f32])| {
                let mut out = vec![0f32; 4 * src.len()];
                f(src, h, w, &mut Vec::new(), &mut out);
                out
            };
            let (a, b) = (go(upsample_planes), go(upsample_planes_portable));
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }

    #[test]
    fn the_selfie_models_lose_every_resize() {
        for kind in [
            crate::model::ModelKind::SelfieLandscape,
            crate::model::ModelKind::SelfieGeneral,
        ] {
            let mut model = crate::model::kernel::testing::decluttered(kind, false);
            assert_eq!(rewrite(&mut model).unwrap(), 3, "{kind}");
            assert!(!model.nodes().iter().any(|n| n.op_is::<Resize>()), "{kind}");
        }
    }
}
