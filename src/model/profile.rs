//! Per-node timings of a loaded model, the measurement behind every optimisation in
//! [`crate::model`]: which ops of the optimised plan the inference time goes to.
//!
//! Each node of the plan is timed around its `eval` over several runs of the same input; the
//! report keeps the median per node (robust to a shared machine) and sums them per op name.

use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval;

use super::{Model, ModelError};

/// One node of the optimised plan and its median time.
#[derive(Debug, Clone)]
pub struct NodeTime {
    pub name: String,
    /// The op's name as tract prints it (`DepthWiseConv`, `OptMatMul`, our own ops…).
    pub op: String,
    pub median: Duration,
}

impl Model {
    /// Times every node of the plan over `iters` runs of `input` (after one untimed run).
    pub fn profile(&mut self, input: Tensor, iters: usize) -> Result<Vec<NodeTime>, ModelError> {
        let kind = self.kind;
        let err = |e: anyhow::Error| ModelError::Run {
            kind,
            message: format!("{e:#}"),
        };
        let nodes = self.state.model().nodes().len();
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(iters); nodes];
        for i in 0..=iters {
            let input = tvec!(input.clone().into_tvalue());
            self.state
                .run_plan_with_eval(input, |ctx, state, node, inputs| {
                    let started = Instant::now();
                    let out = eval(ctx, state, node, inputs);
                    if i > 0 {
                        samples[node.id].push(started.elapsed());
                    }
                    out
                })
                .map_err(err)?;
        }
        let model = self.state.model();
        let mut times: Vec<NodeTime> = samples
            .into_iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(id, mut s)| {
                s.sort();
                let node = model.node(id);
                NodeTime {
                    name: node.name.clone(),
                    op: node.op().name().into_owned(),
                    median: s[s.len() / 2],
                }
            })
            .collect();
        times.sort_by_key(|t| std::cmp::Reverse(t.median));
        Ok(times)
    }
}

/// Node times summed per op name, largest first: `(op, total, node count)`.
pub fn by_op(times: &[NodeTime]) -> Vec<(String, Duration, usize)> {
    let mut ops: Vec<(String, Duration, usize)> = Vec::new();
    for t in times {
        match ops.iter_mut().find(|(op, _, _)| *op == t.op) {
            Some((_, total, count)) => {
                *total += t.median;
                *count += 1;
            }
            None => ops.push((t.op.clone(), t.median, 1)),
        }
    }
    ops.sort_by_key(|o| std::cmp::Reverse(o.1));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelKind, Precision};

    #[test]
    fn every_node_of_the_landscape_plan_is_timed_once() {
        let mut model = Model::load(ModelKind::SelfieLandscape, Precision::F32, None).unwrap();
        let input = Tensor::zero::<f32>(&ModelKind::SelfieLandscape.input_shape()).unwrap();
        let times = model.profile(input, 2).unwrap();
        let ops = by_op(&times);
        assert_eq!(ops.iter().map(|o| o.2).sum::<usize>(), times.len());
        assert!(ops.iter().any(|o| o.0 == "BilinearUpsample2x"), "{ops:?}");
        assert!(times.windows(2).all(|w| w[0].median >= w[1].median));
    }
}
