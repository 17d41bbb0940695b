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
//!
//! The two largest gradients bypass candle's store, whose accumulation zero-fills and adds a
//! buffer of each parameter's size: the fused log-prob kernel hands the LM head's gradient to a
//! [`GradSink`], and the embeddings enter the graph as a leaf whose gradient is added to the
//! looked-up rows of the embedding matrix in place. At the Qwen2.5 vocabulary that saves about
//! 3 GB of memory traffic per backward (counted from the passes; measured: the half-shape
//! gradients went from 1.41-1.65 s to 1.17-1.31 s, docs/benchmarks.md).

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use super::{attention_bias, LogprobPath, Qwen2, SequenceBatch, TokenStats};
use crate::ops::GradSink;
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
        let (ids, mask, positions) = (&batch.input_ids, &batch.attention_mask, &batch.position_ids);
        self.check_inputs(ids, mask, positions)?;
        let bias = attention_bias(mask, 0, ids.dim(1)?)?;
        let mut grads = vec![None; self.params.len()];
        let head_grad = GradSink::new();
        let (embeddings_grad, out) = if checkpointing {
            self.checkpointed_backward(batch, &bias, path, &head_grad, &mut grads, loss)?
        } else {
            // The whole recorded graph, from the embeddings as a leaf.
            let embeddings = Var::from_tensor(&self.frozen.embed(ids)?)?;
            let hidden = self.tracked.hidden_of_embeddings(embeddings.as_tensor().clone(), positions, &bias, None)?;
            let (store, out) = self.loss_backward(&hidden, batch, path, (&head_grad, true), &mut grads, loss)?;
            (store.get(embeddings.as_tensor()).cloned(), out)
        };
        if let Some(g) = head_grad.take() {
            add_into(&mut grads[self.param_index(self.head_name())?], g)?;
        }
        if let Some(g) = embeddings_grad {
            self.add_embedding_rows(&mut grads, ids, &g)?;
        }
        Ok((grads, out))
    }

    /// The loss from the final hidden states (B, T, d) and its backward: the parameters'
    /// gradients go to `grads` (the head's to the sink), the store is returned for the
    /// gradients of the leaves below. `keep_logits`: whether the fused head may keep its logits
    /// for the backward (not under activation checkpointing, which asks for memory over time).
    fn loss_backward<T>(
        &self,
        hidden: &Tensor,
        batch: &SequenceBatch,
        path: LogprobPath,
        (head_grad, keep_logits): (&GradSink, bool),
        grads: &mut ParamGrads,
        loss: impl FnOnce(&TokenStats) -> Result<(Tensor, T)>,
    ) -> Result<(GradStore, T)> {
        let head = self.tracked.lm_head();
        let stats = self.response_stats_of_hidden(hidden, batch, head, path, Some((head_grad, keep_logits)))?;
        let (loss, out) = loss(&stats)?;
        let store = loss.backward()?;
        self.accumulate(grads, &store)?;
        Ok((store, out))
    }

    /// The backward with activation checkpointing (see the module docs). Returns the gradient
    /// of the embeddings (B, T, d).
    fn checkpointed_backward<T>(
        &self,
        batch: &SequenceBatch,
        bias: &Tensor,
        path: LogprobPath,
        head_grad: &GradSink,
        grads: &mut ParamGrads,
        loss: impl FnOnce(&TokenStats) -> Result<(Tensor, T)>,
    ) -> Result<(Option<Tensor>, T)> {
        let (frozen, tracked) = (&self.frozen, &self.tracked);
        let rot = frozen.angles(&batch.position_ids)?;

        // Forward without the graph, keeping each layer's input.
        let mut inputs = Vec::with_capacity(frozen.num_layers());
        let mut x = frozen.embed(&batch.input_ids)?;
        for i in 0..frozen.num_layers() {
            let next = frozen.layer(i, &x, &rot, bias)?;
            inputs.push(x);
            x = next;
        }

        // The final norm, the head and the loss, from a leaf at the last layer's output.
        let top = Var::from_tensor(&x)?;
        drop(x);
        let hidden = tracked.final_norm(top.as_tensor())?;
        let (store, out) = self.loss_backward(&hidden, batch, path, (head_grad, false), grads, loss)?;
        let Some(mut incoming) = store.get(top.as_tensor()).cloned() else {
            return Ok((None, out)); // the loss does not depend on the hidden states
        };
        drop((store, hidden, top));

        // The layers in reverse, each recomputed from its saved input.
        for i in (0..tracked.num_layers()).rev() {
            let input = Var::from_tensor(&inputs.pop().expect("one input per layer"))?;
            let output = tracked.layer(i, input.as_tensor(), &rot, bias)?;
            let store = (output * &incoming)?.sum_all()?.backward()?;
            self.accumulate(grads, &store)?;
            incoming = store.get(input.as_tensor()).cloned().expect("a layer's output depends on its input");
        }
        Ok((Some(incoming), out))
    }

    /// Adds the gradient of the embeddings (B, T, d) to the rows of the embedding matrix that
    /// `ids` (B, T) picked, in place. candle's backward of the lookup would build a zeroed
    /// (V, d) matrix, add the rows into a copy of it, then add that to the head's gradient of a
    /// tied model: three passes over the largest tensor of the model, for B·T rows.
    fn add_embedding_rows(&self, grads: &mut ParamGrads, ids: &Tensor, embeddings_grad: &Tensor) -> Result<()> {
        let (v, d) = (self.config.vocab_size, self.config.hidden_size);
        let rows = embeddings_grad.to_dtype(DType::F32)?.reshape(((), d))?.contiguous()?;
        let n = rows.dim(0)?;
        let index = ids.flatten_all()?.reshape((n, 1))?.broadcast_as((n, d))?.contiguous()?;
        let slot = &mut grads[self.param_index(EMBEDDING)?];
        let sum = match slot.take() {
            Some(sum) => sum,
            None => Tensor::zeros((v, d), DType::F32, &self.device)?,
        };
        // In place: the sum is this call's alone (a fresh zeros, the sink's gradient, or the
        // sum candle's store built for the parameter, which nothing reads again).
        sum.scatter_add_set(&index, &rows, 0)?;
        *slot = Some(sum);
        Ok(())
    }

    /// Checkpoint name of the LM head's parameter: the embedding's when tied.
    fn head_name(&self) -> &'static str {
        if self.config.tie_word_embeddings {
            EMBEDDING
        } else {
            "lm_head.weight"
        }
    }

    /// Index in [`Qwen2::params`] of the parameter named `name` (loading requires it).
    fn param_index(&self, name: &str) -> Result<usize> {
        match self.params.iter().position(|(n, _)| n == name) {
            Some(i) => Ok(i),
            None => crate::bail_input!("the model has no parameter {name}"),
        }
    }

    /// Adds the parameters' gradients in `store` to `grads`, in f32.
    fn accumulate(&self, grads: &mut ParamGrads, store: &GradStore) -> Result<()> {
        for ((_, var), slot) in self.params.iter().zip(grads.iter_mut()) {
            if let Some(g) = store.get(var.as_tensor()) {
                add_into(slot, g.clone())?;
            }
        }
        Ok(())
    }
}

/// Checkpoint name of the token embedding.
const EMBEDDING: &str = "model.embed_tokens.weight";

/// Adds `g` to the gradient in `slot`, in f32.
fn add_into(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    let g = g.to_dtype(DType::F32)?;
    *slot = Some(match slot.take() {
        Some(sum) => (sum + g)?,
        None => g,
    });
    Ok(())
}
