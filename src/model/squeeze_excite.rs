//! Squeeze-and-excitation blocks as one op: [`SqueezeExcite`].
//!
//! The selfie models gate their channels after each depthwise convolution: global mean per
//! channel, a small fully connected layer with ReLU, another with a sigmoid, and the input scaled
//! per channel by the result. Decluttered, that is nine tract nodes (`Reduce<Sum>`, a scalar `Mul`,
//! two `EinSum`s on a vector with their bias `Add`s, `Max`, `Sigmoid`, the broadcast `Mul`), each
//! with its own dispatch, allocation and, for the products, a packing pass; the arithmetic is a
//! few thousand multiply-adds. This op does the mean, both layers and the scaling in one call.
//!
//! [`rewrite`] swaps it into a decluttered model; the test compares it with the tract nodes.
//! Blocks come in two layouts: channels first on x86_64, channels last where tract has a
//! channel-inner depthwise kernel (aarch64), whose declutter moves the depthwise convolutions and
//! what follows them to HWC.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::{BinMiniOp, TypedBinOp};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::{Add, Mul};
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer, Sigmoid};

use super::custom::{Replacement, WriteOutput, eval_op, f32s, replace_matches};
use super::kernel::{Activation, Portable, Simd, dispatch};
use super::pointwise::{fused_activation, only_consumer};

/// `[C, H, W]`, `[1, C, H, W]` (or `[H, W, C]`) f32 → `x · σ(W₂·act(W₁·(scale·Σ_hw x) + b₁) + b₂)`,
/// per channel; or, with `skip_sum`, from two inputs `a` and `b`: `a · g + b`, where `g` is that
/// gate computed on `x = a + b` (the selfie decoders' blocks, gating a skip connection `a`).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct SqueezeExcite {
    /// `[H, W, C]` rather than `[C, H, W]`.
    pub channels_last: bool,
    /// Two inputs, gated as above.
    pub skip_sum: bool,
    /// Multiplies the per-channel sum (1/(H·W) for a mean).
    pub scale: Arc<Tensor>,
    /// `[M, C]`.
    pub w1: Arc<Tensor>,
    /// `[M]`.
    pub b1: Arc<Tensor>,
    pub activation: Activation,
    /// `[C, M]`.
    pub w2: Arc<Tensor>,
    /// `[C]`.
    pub b2: Arc<Tensor>,
}

impl Op for SqueezeExcite {
    fn name(&self) -> StaticName {
        "SqueezeExcite".into()
    }

    op_as_typed_op!();
}

eval_op!(SqueezeExcite);

impl WriteOutput for SqueezeExcite {
    fn output_shape(&self, inputs: &[TValue]) -> TractResult<TVec<usize>> {
        let shape = inputs[0].shape();
        if self.skip_sum {
            ensure!(!self.channels_last && inputs.get(1).is_some_and(|b| b.shape() == shape));
        }
        Ok(shape.into())
    }

    fn write(&self, inputs: &[TValue], out: &mut [f32], scratch: &mut Vec<f32>) -> TractResult<()> {
        let other = if self.skip_sum {
            Some(f32s(&inputs[1])?)
        } else {
            None
        };
        let x = f32s(&inputs[0])?;
        let (w1, b1, w2, b2) = (
            f32s(&self.w1)?,
            f32s(&self.b1)?,
            f32s(&self.w2)?,
            f32s(&self.b2)?,
        );
        let scale = f32s(&self.scale)?[0];
        let (c, m) = (b2.len(), b1.len());
        scratch.clear();
        scratch.resize(3 * c + m, 0.0);
        let (squeezed, rest) = scratch.split_at_mut(c);
        let (more, rest) = rest.split_at_mut(c);
        let (hidden, gates) = rest.split_at_mut(m);
        if self.channels_last {
            for pixel in x.chunks_exact(c) {
                for (s, v) in squeezed.iter_mut().zip(pixel) {
                    *s += v;
                }
            }
        } else {
            channel_sums(x, squeezed);
            if let Some(b) = other {
                channel_sums(b, more);
                squeezed.iter_mut().zip(&*more).for_each(|(s, m)| *s += m);
            }
        }
        squeezed.iter_mut().for_each(|s| *s *= scale);
        for ((h, row), b) in hidden.iter_mut().zip(w1.chunks_exact(c)).zip(b1) {
            *h = self.activation.apply(Portable, b + dot(row, squeezed));
        }
        sigmoid_layer(hidden, w2, b2, gates);
        if self.channels_last {
            for (dst, src) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                for ((d, s), g) in dst.iter_mut().zip(src).zip(&*gates) {
                    *d = s * g;
                }
            }
        } else {
            gate_planes(x, gates, other, out);
        }
        Ok(())
    }
}

dispatch! {
    /// `sums[c]` = the sum of plane `c` of `x` (`sums.len()` planes).
    fn channel_sums / channel_sums_portable = channel_sums_generic(x: &[f32], sums: &mut [f32])
}

/// Four vector accumulators: a sum over one accumulator is a chain of dependent adds, which
/// `Iterator::sum` over f32 is (it may not reorder), at an add's latency per value.
#[inline(always)]
fn channel_sums_generic<S: Simd>(s: S, x: &[f32], sums: &mut [f32]) {
    let plane = x.len() / sums.len();
    for (sum, plane) in sums.iter_mut().zip(x.chunks_exact(plane)) {
        let mut acc = [s.splat(0.0); 4];
        let mut chunks = plane.chunks_exact(4 * S::LANES);
        for chunk in &mut chunks {
            for (i, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `chunk` holds `4·LANES` values.
                *acc = s.add(*acc, unsafe { s.load(chunk.as_ptr().add(i * S::LANES)) });
            }
        }
        let total = s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]));
        *sum = s.sum(total) + chunks.remainder().iter().sum::<f32>();
    }
}

dispatch! {
    /// `out[c] = x[c] · gates[c] (+ other[c])`, plane by plane.
    fn gate_planes / gate_planes_portable = gate_planes_generic(
        x: &[f32],
        gates: &[f32],
        other: Option<&[f32]>,
        out: &mut [f32],
    )
}

#[inline(always)]
fn gate_planes_generic<S: Simd>(
    s: S,
    x: &[f32],
    gates: &[f32],
    other: Option<&[f32]>,
    out: &mut [f32],
) {
    let plane = x.len() / gates.len();
    assert!(out.len() == x.len() && other.is_none_or(|b| b.len() == x.len()));
    for (channel, &g) in gates.iter().enumerate() {
        let range = channel * plane..(channel + 1) * plane;
        let (dst, src) = (&mut out[range.clone()], &x[range.clone()]);
        let b = other.map(|b| &b[range]);
        let vector_end = plane - plane % S::LANES;
        let gv = s.splat(g);
        for i in (0..vector_end).step_by(S::LANES) {
            // SAFETY: `i + LANES ≤ plane`, within `src`, `dst` and `b`.
            unsafe {
                let v = s.load(src.as_ptr().add(i));
                let v = match b {
                    Some(b) => s.mul_add(v, gv, s.load(b.as_ptr().add(i))),
                    None => s.mul(v, gv),
                };
                s.store(dst.as_mut_ptr().add(i), v);
            }
        }
        for i in vector_end..plane {
            dst[i] = src[i] * g + b.map_or(0.0, |b| b[i]);
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `gates = σ(W·x + b)`, `W` row-major `[gates.len(), x.len()]`.
fn sigmoid_layer(x: &[f32], w: &[f32], b: &[f32], gates: &mut [f32]) {
    for ((g, row), b) in gates.iter_mut().zip(w.chunks_exact(x.len())).zip(b) {
        *g = 1.0 / (1.0 + (-(b + dot(row, x))).exp());
    }
}

/// `x` `[1, C, H, W]` and `a` `[1, C', H', W']` f32 → `a · σ(W·(scale·Σ_hw x) + b)` per channel
/// of `a`: the selfie decoders' first block, which gates a convolution of its input by one
/// layer on the input's pooled channels. Five tract nodes otherwise (`Reduce<Sum>`, two scalar
/// `Mul`s, `Sigmoid`, the broadcast `Mul`), two of them allocating.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct PooledGate {
    /// Multiplies the per-channel sum (1/(H·W) for a mean).
    pub scale: Arc<Tensor>,
    /// `[C', C]`.
    pub w: Arc<Tensor>,
    /// `[C']`.
    pub b: Arc<Tensor>,
}

impl Op for PooledGate {
    fn name(&self) -> StaticName {
        "PooledGate".into()
    }

    op_as_typed_op!();
}

eval_op!(PooledGate);

impl WriteOutput for PooledGate {
    fn output_shape(&self, inputs: &[TValue]) -> TractResult<TVec<usize>> {
        let (x, a) = (inputs[0].shape(), inputs[1].shape());
        ensure!(x.len() == 4 && a.len() == 4 && x[0] == 1 && a[0] == 1);
        ensure!(self.w.shape() == [a[1], x[1]] && self.b.len() == a[1]);
        Ok(a.into())
    }

    fn write(&self, inputs: &[TValue], out: &mut [f32], scratch: &mut Vec<f32>) -> TractResult<()> {
        let (x, a) = (f32s(&inputs[0])?, f32s(&inputs[1])?);
        let (w, b) = (f32s(&self.w)?, f32s(&self.b)?);
        let scale = f32s(&self.scale)?[0];
        scratch.clear();
        scratch.resize(inputs[0].shape()[1] + b.len(), 0.0);
        let (sums, gates) = scratch.split_at_mut(inputs[0].shape()[1]);
        channel_sums(x, sums);
        sums.iter_mut().for_each(|s| *s *= scale);
        sigmoid_layer(sums, w, b, gates);
        gate_planes(a, gates, None, out);
        Ok(())
    }
}

impl TypedOp for PooledGate {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs
                .iter()
                .all(|f| f.datum_type == f32::datum_type() && f.rank() == 4)
        );
        Ok(tvec!(inputs[1].without_value()))
    }

    as_op!();
}

impl TypedOp for SqueezeExcite {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rank = inputs[0].rank();
        ensure!(inputs[0].datum_type == f32::datum_type() && (rank == 3 || rank == 4));
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

/// The constant f32 operand of node `id`, a binary op of kind `B` with `from`'s output on the
/// other side.
fn const_operand<B: BinMiniOp>(model: &TypedModel, id: usize, from: usize) -> Option<Arc<Tensor>> {
    let node = model.node(id);
    let op = node.op_as::<TypedBinOp>()?;
    if !op.0.is::<B>() || node.inputs.len() != 2 {
        return None;
    }
    let other = node.inputs.iter().find(|i| i.node != from)?;
    let k = model.outlet_fact(*other).ok()?.konst.clone()?;
    (k.datum_type() == f32::datum_type()).then_some(k)
}

/// The constant weights of `EinSum` node `id` with one of the expressions `exprs`.
fn einsum_weights(model: &TypedModel, id: usize, exprs: &[&str]) -> Option<Arc<Tensor>> {
    let node = model.node(id);
    let op = node.op_as::<EinSum>()?;
    if op.q_params.is_some()
        || !exprs.contains(&op.axes.to_string().as_str())
        || node.inputs.len() != 2
    {
        return None;
    }
    let k = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    (k.datum_type() == f32::datum_type() && k.rank() == 2).then_some(k)
}

/// The op, its inputs and the node whose output it replaces, if `Reduce` node `id` starts a
/// squeeze-excite block: the gating `Mul`, or for a block gating a skip connection the `Add`
/// after it.
fn match_block(model: &TypedModel, id: usize) -> Option<Replacement<SqueezeExcite>> {
    let node = model.node(id);
    let reduce = node.op_as::<Reduce>()?;
    let x = node.inputs[0];
    let fact = model.outlet_fact(x).ok()?;
    if reduce.reducer != Reducer::Sum || fact.datum_type != f32::datum_type() {
        return None;
    }
    // The layers on the pooled vector, as tract declutters them with and without its
    // ChangeAxes pass (see `model::optimise`).
    let (channels_last, fc1_exprs, fc2_exprs): (_, &[&str], &[&str]) =
        match (fact.rank(), reduce.axes.as_slice()) {
            (3, [1, 2]) => (false, &["IHW,OI->O"], &["I,OI->OHW"]),
            (3, [0, 1]) => (true, &["HWI,OI->O"], &["I,OI->HWO"]),
            (4, [2, 3]) if fact.shape[0] == 1.to_dim() => (
                false,
                &["NIHW,OI->O", "NIHW,OI->NOHW"],
                &["I,OI->NOHW", "NIHW,OI->NOHW"],
            ),
            _ => return None,
        };
    let rank = fact.rank();
    let channels = fact.shape[if channels_last { 2 } else { rank - 3 }]
        .to_usize()
        .ok()?;
    let norm = only_consumer(model, id)?;
    let scale = const_operand::<Mul>(model, norm, id).filter(|k| k.len() == 1)?;
    let fc1 = only_consumer(model, norm)?;
    let w1 = einsum_weights(model, fc1, fc1_exprs)?;
    let add1 = only_consumer(model, fc1)?;
    let b1 = const_operand::<Add>(model, add1, fc1)?;
    let (activation, act) = fused_activation(model, add1).ok()?;
    let fc2 = only_consumer(model, act)?;
    let w2 = einsum_weights(model, fc2, fc2_exprs)?;
    let add2 = only_consumer(model, fc2)?;
    let b2 = const_operand::<Add>(model, add2, fc2)?;
    let sigmoid = only_consumer(model, add2)?;
    if !model
        .node(sigmoid)
        .op_as::<ElementWiseOp>()
        .is_some_and(|op| op.0.is::<Sigmoid>())
    {
        return None;
    }
    let gate = only_consumer(model, sigmoid)?;
    let gate_node = model.node(gate);
    let hidden = b1.len();
    let shapes_fit = w1.shape() == [hidden, channels]
        && w2.shape() == [channels, hidden]
        && b2.len() == channels
        && gate_node
            .op_as::<TypedBinOp>()
            .is_some_and(|op| op.0.is::<Mul>())
        && model.outlet_fact(OutletId::new(gate, 0)).ok()?.shape == fact.shape;
    if !shapes_fit {
        return None;
    }
    let (skip_sum, inputs, last) = if gate_node.inputs.contains(&x) {
        (false, tvec!(x), gate)
    } else {
        // x = a + b, read only by the `Reduce`; the gate scales `a`, then `b` is added.
        let sum = model.node(x.node);
        let &[p, q] = &sum.inputs[..] else {
            return None;
        };
        let (a, b) = if gate_node.inputs.contains(&p) {
            (p, q)
        } else {
            (q, p)
        };
        let add = only_consumer(model, gate)?;
        let add_node = model.node(add);
        let is_add = |n: &TypedNode| n.op_as::<TypedBinOp>().is_some_and(|op| op.0.is::<Add>());
        let fits = !channels_last
            && is_add(sum)
            && only_consumer(model, x.node) == Some(id)
            && gate_node.inputs.contains(&a)
            && is_add(add_node)
            && add_node.inputs.contains(&b)
            && [a, b, OutletId::new(add, 0)]
                .iter()
                .all(|o| model.outlet_fact(*o).is_ok_and(|f| f.shape == fact.shape));
        if !fits {
            return None;
        }
        (true, tvec!(a, b), add)
    };
    let b2 = (*b2)
        .clone()
        .into_shape(&[channels])
        .ok()?
        .into_arc_tensor();
    let op = SqueezeExcite {
        channels_last,
        skip_sum,
        scale,
        w1,
        b1,
        activation,
        w2,
        b2,
    };
    Some(Replacement { op, inputs, last })
}

/// A [`PooledGate`] from the channel sum `id` of an NCHW tensor.
fn match_gate(model: &TypedModel, id: usize) -> Option<Replacement<PooledGate>> {
    let node = model.node(id);
    let reduce = node.op_as::<Reduce>()?;
    let x = node.inputs[0];
    let fact = model.outlet_fact(x).ok()?;
    if reduce.reducer != Reducer::Sum
        || fact.datum_type != f32::datum_type()
        || fact.rank() != 4
        || fact.shape[0] != 1.to_dim()
        || *reduce.axes != [2, 3]
    {
        return None;
    }
    let norm = only_consumer(model, id)?;
    let scale = const_operand::<Mul>(model, norm, id).filter(|k| k.len() == 1)?;
    let fc = only_consumer(model, norm)?;
    let w = einsum_weights(model, fc, &["NIHW,OI->NOHW"])?;
    let add = only_consumer(model, fc)?;
    let b = const_operand::<Add>(model, add, fc)?;
    let sigmoid = only_consumer(model, add)?;
    let gate = only_consumer(model, sigmoid)?;
    let gate_node = model.node(gate);
    let is_sigmoid = model
        .node(sigmoid)
        .op_as::<ElementWiseOp>()
        .is_some_and(|op| op.0.is::<Sigmoid>());
    let is_mul = gate_node
        .op_as::<TypedBinOp>()
        .is_some_and(|op| op.0.is::<Mul>());
    let &[p, q] = &gate_node.inputs[..] else {
        return None;
    };
    let a = if p.node == sigmoid { q } else { p };
    let a_fact = model.outlet_fact(a).ok()?;
    let gated = a_fact.rank() == 4
        && a_fact.shape[0] == 1.to_dim()
        && a_fact.shape[1] == b.len().to_dim()
        && w.shape() == [b.len(), fact.shape[1].to_usize().ok()?]
        && model.outlet_fact(OutletId::new(gate, 0)).ok()?.shape == a_fact.shape;
    if !(is_sigmoid && is_mul && gated) {
        return None;
    }
    let b = (*b)
        .clone()
        .into_shape(&[w.shape()[0]])
        .ok()?
        .into_arc_tensor();
    Some(Replacement {
        op: PooledGate { scale, w, b },
        inputs: tvec!(x, a),
        last: gate,
    })
}

/// Replaces every squeeze-excite block of a decluttered model by a [`SqueezeExcite`], then every
/// gate on pooled channels by a [`PooledGate`]. Returns how many were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    Ok(
        replace_matches(model, |model, id| Ok(match_block(model, id)))?
            + replace_matches(model, |model, id| Ok(match_gate(model, id)))?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;
    use crate::model::kernel::testing::{decluttered, run};

    #[test]
    fn channel_sums_match_a_sum_in_f64_on_every_build() {
        use crate::model::kernel::testing::{random, values};
        for (c, plane) in [(1, 1), (3, 31), (5, 67), (16, 2304)] {
            let x = random(&[c, plane], plane as u64);
            let x = values(&x);
            type Kernel = fn(&[f32], &mut [f32]);
            for kernel in [channel_sums as Kernel, channel_sums_portable] {
                let mut sums = vec![0f32; c];
                kernel(x, &mut sums);
                for (sum, plane) in sums.iter().zip(x.chunks_exact(plane)) {
                    let expected: f64 = plane.iter().map(|&v| f64::from(v)).sum();
                    assert!(
                        (f64::from(*sum) - expected).abs() < 1e-3,
                        "{sum} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn gating_agrees_on_every_build() {
        use crate::model::kernel::testing::{random, values};
        for (c, plane) in [(1, 1), (3, 31), (5, 67)] {
            let (x, b, gates) = (
                random(&[c, plane], 1),
                random(&[c, plane], 2),
                random(&[c], 3),
            );
            for other in [None, Some(values(&b))] {
                let mut outs = [vec![0f32; c * plane], vec![0f32; c * plane]];
                gate_planes(values(&x), values(&gates), other, &mut outs[0]);
                gate_planes_portable(values(&x), values(&gates), other, &mut outs[1]);
                for (a, e) in outs[0].iter().zip(&outs[1]) {
                    assert!((a - e).abs() <= 1e-5, "{a} vs {e}");
                }
            }
        }
    }

    /// Every block of both selfie models is replaced, and the models' outputs do not move. The
    /// decoder's gate on pooled channels is matched in the NCHW layout `optimise` keeps (tract's
    /// own declutter moves it to channels-last on aarch64).
    #[test]
    fn selfie_blocks_match_tract() {
        for kind in [ModelKind::SelfieLandscape, ModelKind::SelfieGeneral] {
            for keep_layout in [false, true] {
                let reference = decluttered(kind, keep_layout);
                let shape = kind.input_shape();
                let n: usize = shape.iter().product();
                let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 999.0).collect();
                let input = Tensor::from_shape(&shape, &values).unwrap();
                let expected = run(reference.clone(), &input);
                let mut ours = reference;
                let replaced = rewrite(&mut ours).unwrap();
                let count =
                    |name: &str| ours.nodes().iter().filter(|n| n.op.name() == name).count();
                let (blocks, gates) = (count("SqueezeExcite"), count("PooledGate"));
                assert_eq!((blocks, blocks + gates), (9, replaced), "{kind}");
                if keep_layout {
                    assert_eq!(gates, 1, "{kind}");
                }
                let got = run(ours, &input);
                got.close_enough(&expected, Approximation::Approximate)
                    .unwrap();
            }
        }
    }

    #[test]
    fn pooled_gate_matches_its_formula() {
        use crate::model::kernel::testing::{random, values};
        for (c, g, h, w, seed) in [(1, 1, 1, 1, 1), (5, 3, 4, 9, 2), (16, 24, 9, 16, 3)] {
            let x = random(&[1, c, h, w], seed);
            let a = random(&[1, g, 2 * h, w + 1], seed + 10);
            let op = PooledGate {
                scale: tensor0(1.0 / (h * w) as f32).into_arc_tensor(),
                w: random(&[g, c], seed + 20).into_arc_tensor(),
                b: random(&[g], seed + 30).into_arc_tensor(),
            };
            let got = crate::model::custom::eval_once(
                &op,
                &[x.clone().into_tvalue(), a.clone().into_tvalue()],
            )
            .unwrap();
            let (xs, avs, ws, bs) = (values(&x), values(&a), values(&op.w), values(&op.b));
            let means: Vec<f64> = xs
                .chunks_exact(h * w)
                .map(|p| p.iter().map(|&v| f64::from(v)).sum::<f64>() / (h * w) as f64)
                .collect();
            let plane = 2 * h * (w + 1);
            for (i, (&got, &a)) in values(&got[0]).iter().zip(avs).enumerate() {
                let o = i / plane;
                let z = f64::from(bs[o])
                    + (0..c)
                        .map(|k| f64::from(ws[o * c + k]) * means[k])
                        .sum::<f64>();
                let expected = f64::from(a) / (1.0 + (-z).exp());
                assert!(
                    (f64::from(got) - expected).abs() < 1e-5,
                    "{got} vs {expected}"
                );
            }
        }
    }

    /// The channels-last op (only tract's aarch64 graphs have it) computes what the
    /// channels-first one does on the transposed input, so x86_64 tests it too.
    #[test]
    fn both_layouts_agree() {
        use crate::model::kernel::testing::{random, values};
        let (c, m, h, w) = (16, 8, 5, 7);
        let chw = SqueezeExcite {
            channels_last: false,
            skip_sum: false,
            scale: tensor0(1.0 / (h * w) as f32).into_arc_tensor(),
            w1: random(&[m, c], 1).into_arc_tensor(),
            b1: random(&[m], 2).into_arc_tensor(),
            activation: Activation::Relu,
            w2: random(&[c, m], 3).into_arc_tensor(),
            b2: random(&[c], 4).into_arc_tensor(),
        };
        let hwc = SqueezeExcite {
            channels_last: true,
            ..chw.clone()
        };
        let one_op = |op: SqueezeExcite, input: &Tensor| {
            let mut model = TypedModel::default();
            let x = model.add_source("x", f32::fact(input.shape())).unwrap();
            let y = model.wire_node("se", op, &[x]).unwrap();
            model.select_output_outlets(&y).unwrap();
            run(model, input)
        };
        let x = random(&[c, h, w], 5);
        let expected = one_op(chw, &x);
        let x_hwc = x.clone().permute_axes(&[1, 2, 0]).unwrap();
        let got = one_op(hwc, &x_hwc).permute_axes(&[2, 0, 1]).unwrap();
        for (a, b) in values(&got).iter().zip(values(&expected)) {
            assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
        }
    }
}
