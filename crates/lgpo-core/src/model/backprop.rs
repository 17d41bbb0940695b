//! The training backward: the gradient of a loss of the response log-probs for every parameter,
//! either through the whole recorded graph or with activation checkpointing per decoder layer.
//!
//! Checkpointing runs the forward layer by layer without recording the graph and keeps only each
//! decoder layer's input (B, T, d). The backward then starts from the final norm and the LM head
//! (recorded from a leaf at the last layer's output), and walks the layers in reverse: each is
//! recomputed with the graph from its saved input, made a leaf, and backpropagates the gradient
//! that arrived at its output (the gradient of Σ output ⊙ incoming). Activation memory is one
//! layer's instead of all layers', for about one more forward pass of compute. The numbers are
//! the same as the full backward's: the same ops in the same order.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use super::{attention_bias, LogprobPath, Qwen2, SequenceBatch, TokenStats};
use crate::Result;

/// Per-parameter f32 gradients in [`Qwen2::params`] order; `None` where the loss does not reach.
pub type ParamGrads = Vec<Option<Tensor>>;

impl Qwen2 {
    /// The gradient of `loss(stats)` for every parameter, where `stats` are the response
    /// log-probs and entropies of `batch` through `path` (with the graph recorded). `loss`
    /// returns the scalar loss and anything the caller wants back from it.
    ///
    /// Gradients are f32 whatever the compute dtype (partial gradients of a parameter used twice,
    /// such as a tied embedding, are summed in f32). With `checkpointing` the forward keeps only
    /// each decoder layer's input and the backward recomputes one layer at a time (see the module
    /// docs); the gradients are the same.
    pub fn loss_gradients<T>(
        &self,
        batch: &SequenceBatch,
        path: LogprobPath,
        checkpointing: bool,
        loss: impl FnOnce(&TokenStats) -> Result<(Tensor, T)>,
    ) -> Result<(ParamGrads, T)> {
        let mut grads = vec![None; self.params.len()];
        if !checkpointing {
            let stats = self.response_stats_with(batch, super::Grad::Track, path)?;
            let (loss, out) = loss(&stats)?;
            self.accumulate(&mut grads, &loss.backward()?)?;
            return Ok((grads, out));
        }
        let (ids, mask, positions) = (&batch.input_ids, &batch.attention_mask, &batch.position_ids);
        self.check_inputs(ids, mask, positions)?;
        let bias = attention_bias(mask, 0, ids.dim(1)?)?;
        let (frozen, tracked) = (&self.frozen, &self.tracked);
        let rot = frozen.angles(positions)?;

        // Forward without the graph, keeping each layer's input.
        let mut inputs = Vec::with_capacity(frozen.num_layers());
        let mut x = frozen.embed(ids)?;
        for i in 0..frozen.num_layers() {
            let next = frozen.layer(i, &x, &rot, &bias)?;
            inputs.push(x);
            x = next;
        }

        // The final norm, the head and the loss, from a leaf at the last layer's output.
        let top = Var::from_tensor(&x)?;
        drop(x);
        let hidden = tracked.final_norm(top.as_tensor())?;
        let stats = self.response_stats_of_hidden(&hidden, batch, tracked.lm_head(), path)?;
        let (loss, out) = loss(&stats)?;
        let store = loss.backward()?;
        self.accumulate(&mut grads, &store)?;
        let Some(mut incoming) = store.get(top.as_tensor()).cloned() else {
            return Ok((grads, out)); // the loss does not depend on the hidden states
        };
        drop((store, stats, hidden, top));

        // The layers in reverse, each recomputed from its saved input.
        for i in (0..tracked.num_layers()).rev() {
            let input = Var::from_tensor(&inputs.pop().expect("one input per layer"))?;
            let output = tracked.layer(i, input.as_tensor(), &rot, &bias)?;
            let store = (output * &incoming)?.sum_all()?.backward()?;
            self.accumulate(&mut grads, &store)?;
            incoming = store.get(input.as_tensor()).cloned().expect("a layer's output depends on its input");
        }
        let store = (tracked.embed(ids)? * &incoming)?.sum_all()?.backward()?;
        self.accumulate(&mut grads, &store)?;
        Ok((grads, out))
    }

    /// Adds the parameters' gradients in `store` to `grads`, in f32.
    fn accumulate(&self, grads: &mut ParamGrads, store: &GradStore) -> Result<()> {
        for ((_, var), slot) in self.params.iter().zip(grads.iter_mut()) {
            if let Some(g) = store.get(var.as_tensor()) {
                let g = g.to_dtype(DType::F32)?;
                *slot = Some(match slot.take() {
                    Some(sum) => (sum + g)?,
                    None => g,
                });
            }
        }
        Ok(())
    }
}
