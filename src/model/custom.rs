//! What our ops share: swapping them into a decluttered model ([`replace_matches`]) and
//! evaluating them into buffers kept from one run to the next ([`WriteOutput`], [`eval_op!`]).
//!
//! tract allocates every node's output on every run (`Tensor::uninitialized` in each op's
//! `eval`): for the landscape model that was 238 allocations and 10.6 MB per frame, each large
//! one fresh from the allocator, for a device meant to run for months. Our ops instead evaluate
//! through a per-node [`OpState`] that keeps its output tensor: the plan drops its references to
//! a node's output once its consumers have run and at the end of the run, so on the next run
//! the tensor is ours alone again and is overwritten in place. Were it still shared (the caller
//! kept a model output, or a cloned state holds it), a new one is allocated: never a value
//! changed under a reader.

use std::marker::PhantomData;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// A match of a graph rewrite: `op` takes `inputs` and replaces the nodes from the matched one to
/// `last`, whose consumers read `op`'s output instead.
pub struct Replacement<O> {
    pub op: O,
    pub inputs: TVec<OutletId>,
    pub last: usize,
}

/// Runs `find` on every node of `model` in evaluation order and applies each replacement it
/// returns. Returns how many were made.
pub fn replace_matches<O: TypedOp>(
    model: &mut TypedModel,
    mut find: impl FnMut(&TypedModel, usize) -> TractResult<Option<Replacement<O>>>,
) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let Some(Replacement { op, inputs, last }) = find(model, id)? else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let inputs = inputs
            .iter()
            .map(|i| patch.tap_model(model, *i))
            .collect::<TractResult<TVec<_>>>()?;
        let out = patch.wire_node(&model.node(id).name, op, &inputs)?;
        patch.shunt_outside(model, OutletId::new(last, 0), out[0])?;
        patch.apply(model)?;
        replaced += 1;
    }
    if replaced > 0 {
        model.compact()?;
    }
    Ok(replaced)
}

/// An op of ours with one f32 output that it writes whole into a buffer it is handed.
pub trait WriteOutput: Op + Clone {
    /// The output's shape for `inputs`, after checking them.
    fn output_shape(&self, inputs: &[TValue]) -> TractResult<TVec<usize>>;

    /// Writes every value of the output. `scratch` is the node's working memory, kept between
    /// runs (empty on the first).
    fn write(
        &self,
        inputs: &[TValue],
        output: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> TractResult<()>;
}

/// Evaluates `op` into a new tensor: outside a plan (constant folding, tests).
pub fn eval_once<O: WriteOutput>(op: &O, inputs: &[TValue]) -> TractResult<TVec<TValue>> {
    // SAFETY: `write` writes every value.
    let mut output = unsafe { Tensor::uninitialized::<f32>(&op.output_shape(inputs)?)? };
    op.write(
        inputs,
        output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        &mut Vec::new(),
    )?;
    Ok(tvec!(output.into_tvalue()))
}

/// The per-node state through which a plan evaluates an op `O`: its last output and scratch.
#[derive(Debug)]
pub struct Recycling<O> {
    output: Option<Arc<Tensor>>,
    scratch: Vec<f32>,
    op: PhantomData<fn() -> O>,
}

impl<O> Default for Recycling<O> {
    fn default() -> Self {
        Recycling {
            output: None,
            scratch: Vec::new(),
            op: PhantomData,
        }
    }
}

impl<O> Clone for Recycling<O> {
    /// The clone shares the output: whichever state runs next finds it shared and allocates.
    fn clone(&self) -> Self {
        Recycling {
            output: self.output.clone(),
            scratch: Vec::new(),
            op: PhantomData,
        }
    }
}

impl<O: WriteOutput> OpState for Recycling<O> {
    fn eval(
        &mut self,
        _ctx: &EvalContext,
        op: &dyn Op,
        inputs: TVec<TValue>,
    ) -> TractResult<TVec<TValue>> {
        let op = op.downcast_ref::<O>().with_context(|| {
            format!("{} state given a {}", std::any::type_name::<O>(), op.name())
        })?;
        let shape = op.output_shape(&inputs)?;
        let reusable = self
            .output
            .as_mut()
            .and_then(Arc::get_mut)
            .is_some_and(|t| t.shape() == &*shape);
        if !reusable {
            // SAFETY: `write` writes every value.
            self.output = Some(Arc::new(unsafe { Tensor::uninitialized::<f32>(&shape)? }));
        }
        let Some(output) = self.output.as_mut() else {
            unreachable!("set above")
        };
        let tensor = Arc::get_mut(output).context("a new output is not shared")?;
        op.write(
            &inputs,
            tensor.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
            &mut self.scratch,
        )?;
        Ok(tvec!(TValue::from_const(output.clone())))
    }

    fn reset_lanes(&mut self, _lanes: &[LaneId]) -> TractResult<()> {
        // Nothing carries from one frame to the next but memory.
        Ok(())
    }
}

/// `EvalOp` for a [`WriteOutput`] op: in a plan through [`Recycling`], outside through
/// [`eval_once`].
macro_rules! eval_op {
    ($op:ty) => {
        impl EvalOp for $op {
            op_out_of_plan!();

            fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
                $crate::model::custom::eval_once(self, &inputs)
            }

            fn state(&self, _ctx: &EvalContext) -> TractResult<Option<Box<dyn OpState>>> {
                Ok(Some(Box::new(
                    $crate::model::custom::Recycling::<$op>::default(),
                )))
            }
        }
    };
}
pub(crate) use eval_op;

/// `shape`, once the residual input of an op that fuses one (`fused`) is checked to have it.
pub fn with_residual(
    inputs: &[TValue],
    fused: bool,
    shape: TVec<usize>,
) -> TractResult<TVec<usize>> {
    if fused {
        ensure!(
            inputs.get(1).is_some_and(|r| r.shape() == &*shape),
            "residual input of shape {shape:?} expected"
        );
    }
    Ok(shape)
}

/// The residual input of an op that fuses one (`fused`).
pub fn residual(inputs: &[TValue], fused: bool) -> TractResult<Option<&[f32]>> {
    if fused {
        f32s(&inputs[1]).map(Some)
    } else {
        Ok(None)
    }
}

/// The values of a plain f32 tensor.
pub fn f32s(tensor: &Tensor) -> TractResult<&[f32]> {
    tensor.try_as_plain_ram()?.as_slice::<f32>()
}
