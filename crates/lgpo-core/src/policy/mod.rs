//! The policy: model + optimizer. One optimizer step per minibatch, with micro-batched gradient
//! accumulation whose normalisation is exact across micro-batches, and the old-policy log-prob
//! pass that ratio-based objectives need (and LGPO does not).

mod data_parallel;
mod minibatch;

use std::time::Instant;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use minibatch::padded_rows;
pub use minibatch::{Minibatch, Rollout};

use crate::comm::{Communicator, ReduceOp, SingleProcess};
use crate::model::{LogprobPath, Qwen2, ResponseScores, Sequence, SequenceBatch};
use crate::objectives::{counted_tokens, Metrics, Normalizer, Objective, ObjectiveInputs, ObjectiveStats};
use crate::optim::{clip_factor, global_norm, AdamW, AdamWConfig, LrSchedule};
use crate::rng::SplitMix64;
use crate::{bail_input, Result};

/// Training settings of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// AdamW hyper-parameters.
    pub optimizer: AdamWConfig,
    /// Learning-rate schedule over optimizer steps.
    pub schedule: LrSchedule,
    /// Global gradient-norm clip; `None` disables it. Default 1.0.
    pub max_grad_norm: Option<f64>,
    /// Sequences per forward/backward (gradient accumulation); also used by the no-grad pass.
    pub micro_batch_size: usize,
    /// Skip sequences with A = 0 in forward and backward (their gradient is exactly zero; the
    /// normalisation still counts them, so the update is unchanged). Objectives that need every
    /// sequence (random gate, KL penalty, entropy bonus) never skip.
    pub skip_zero_advantage: bool,
    /// Seed of the random gates' streams (combined with the step number).
    pub seed: u64,
    /// Recompute each decoder layer's forward in the backward instead of keeping its
    /// activations (same gradients; activation memory of one layer instead of all, for about
    /// one more forward pass of compute). Default false; lets Qwen2.5-3B train on one 80 GB GPU
    /// at the paper's lengths.
    pub activation_checkpointing: bool,
    /// Softmax temperature of every log-prob the objective sees (the training forward and the
    /// old-log-prob pass): the rollout's sampling temperature, so that the policy trained is the
    /// one that sampled, as verl and TRL do. Default 1. 0 says the rollouts were greedy: greedy
    /// decoding has no sampling distribution, so they are scored at 1 (see
    /// [`TrainConfig::scoring_temperature`]).
    pub logprob_temperature: f64,
}

impl TrainConfig {
    /// The temperature log-probs are computed at: [`TrainConfig::logprob_temperature`], or 1 for
    /// greedy rollouts (0).
    pub fn scoring_temperature(&self) -> f64 {
        if self.logprob_temperature == 0.0 {
            1.0
        } else {
            self.logprob_temperature
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: AdamWConfig::default(),
            schedule: LrSchedule::Constant,
            max_grad_norm: Some(1.0),
            micro_batch_size: 8,
            skip_zero_advantage: true,
            seed: 0,
            activation_checkpointing: false,
            logprob_temperature: 1.0,
        }
    }
}

/// Where ratio-based objectives take their old log-probs from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OldLogprobSource {
    /// One no-grad pass over the rollout batch before its first update (the cost LGPO removes).
    #[default]
    Recompute,
    /// The sampling log-probs recorded during generation (exact only with no top-k/top-p, with
    /// [`TrainConfig::logprob_temperature`] the sampling temperature, and identical numerics in
    /// generation and training).
    Generation,
    /// [`Policy::train_rollout`] only: the first minibatch's old policy is the current one, so it
    /// takes its own forward (ratios exactly 1) and the no-grad pass scores the other minibatches
    /// (none at one update). Exact, and the cheapest exact pass.
    SkipFirst,
}

/// What the objective decided for one sequence of a minibatch; `None` fields when the sequence
/// was skipped (A = 0) and never evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SequenceOutcome {
    /// Dropped by the objective's trust region (LGPO gate, GSPO sequence clip).
    pub gated: Option<bool>,
    /// Mean response log-prob under the policy at this update (LGPO's ℓ̄).
    pub mean_logprob: Option<f64>,
}

/// Summed gradients of a minibatch and the objective's statistics.
#[derive(Debug)]
pub struct Gradients {
    /// One f32 gradient per parameter, in [`Qwen2::params`] order.
    pub grads: Vec<Tensor>,
    pub stats: ObjectiveStats,
    /// Sequences skipped because A = 0.
    pub skipped_zero_advantage: usize,
    /// One outcome per sequence of the minibatch, in its order.
    pub sequences: Vec<SequenceOutcome>,
    /// Wall seconds spent in collectives across ranks (0 in a single process).
    pub comm_seconds: f64,
}

/// The metrics of one optimizer step and the per-sequence decisions behind them.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// See [`Policy::train_minibatch`].
    pub metrics: Metrics,
    pub sequences: Vec<SequenceOutcome>,
}

/// Metrics of a rollout batch's updates and the time of each phase.
#[derive(Debug, Clone)]
pub struct RolloutReport {
    /// One entry per minibatch update.
    pub updates: Vec<Metrics>,
    /// Seconds of the old-log-prob pass (0 when none ran: LGPO, sampling log-probs, skip_first at one update).
    pub old_logprob_seconds: f64,
    /// Seconds spent in the updates.
    pub update_seconds: f64,
}

/// A trainable policy: a [`Qwen2`] with its AdamW state.
pub struct Policy {
    model: Qwen2,
    optimizer: AdamW,
    config: TrainConfig,
    /// The ranks this policy trains with ([`SingleProcess`] unless set).
    comm: Arc<dyn Communicator>,
}

impl Policy {
    /// Wraps `model` with a fresh optimizer.
    pub fn new(model: Qwen2, config: TrainConfig) -> Result<Self> {
        if config.micro_batch_size == 0 {
            bail_input!("micro_batch_size must be at least 1");
        }
        if config.max_grad_norm.is_some_and(|m| !(m > 0.0)) {
            bail_input!("max_grad_norm must be positive, got {:?}", config.max_grad_norm);
        }
        if !(config.logprob_temperature >= 0.0 && config.logprob_temperature.is_finite()) {
            bail_input!(
                "logprob_temperature must be finite and >= 0 (0: greedy rollouts), got {}",
                config.logprob_temperature
            );
        }
        config.schedule.validate()?;
        let optimizer = AdamW::new(model.params(), config.optimizer)?;
        Ok(Policy { model, optimizer, config, comm: Arc::new(SingleProcess) })
    }

    /// The model.
    pub fn model(&self) -> &Qwen2 {
        &self.model
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &AdamW {
        &self.optimizer
    }

    /// Replaces the optimizer state (e.g. loaded with [`AdamW::load`] on resume).
    pub fn set_optimizer(&mut self, optimizer: AdamW) {
        self.optimizer = optimizer;
    }

    /// Writes the optimizer state (moments, master weights, step count) to `path` (safetensors,
    /// atomically).
    pub fn save_optimizer(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.optimizer.save(path)
    }

    /// Replaces the optimizer state with the one [`Policy::save_optimizer`] wrote for this model,
    /// keeping the current hyper-parameters (a resume may change the learning rate's schedule).
    pub fn load_optimizer(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.optimizer = AdamW::load(path, self.model.params(), *self.optimizer.config())?;
        Ok(())
    }

    /// Trains with `comm`'s ranks from now on: each optimizer step sums the loss denominators,
    /// gradients and statistics over them (`comm::mpi::MpiCommunicator` with the `mpi` feature).
    /// Every rank must hold the same weights and optimizer state, and step on its consecutive
    /// slice of each minibatch, in rank order.
    pub fn set_communicator(&mut self, comm: Arc<dyn Communicator>) {
        self.comm = comm;
    }

    /// The training settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Log-probs and entropies of the responses without gradient, at the configured
    /// [`TrainConfig::logprob_temperature`] (the old-policy pass; a reference policy's scores).
    pub fn score(&self, sequences: &[Sequence], micro_batch_size: usize) -> Result<Vec<ResponseScores>> {
        self.model.score_at(sequences, micro_batch_size, self.config.scoring_temperature())
    }

    /// Old log-probs for `rollout` if `objective` needs them, else `None` (LGPO never computes
    /// them).
    pub fn old_logprobs(
        &self,
        rollout: &Rollout,
        objective: &Objective,
        source: OldLogprobSource,
    ) -> Result<Option<Vec<Vec<f32>>>> {
        if !objective.needs_old_logprobs() {
            return Ok(None);
        }
        match source {
            OldLogprobSource::Recompute => {
                let scores = self.score(&rollout.sequences, self.config.micro_batch_size)?;
                Ok(Some(scores.into_iter().map(|s| s.logprobs).collect()))
            }
            OldLogprobSource::Generation => match &rollout.generation_logprobs {
                Some(rows) => Ok(Some(rows.clone())),
                None => bail_input!(
                    "old log-probs from generation were asked for, but the rollout has no generation_logprobs"
                ),
            },
            OldLogprobSource::SkipFirst => {
                bail_input!("old log-probs `skip_first` depend on the minibatch split: use train_rollout")
            }
        }
    }

    /// Summed, exactly normalised gradients of `objective` on `minibatch`, micro-batch by
    /// micro-batch; the parameters are not changed.
    pub fn gradients(&self, minibatch: &Minibatch, objective: &Objective) -> Result<Gradients> {
        let distributed = self.comm.size() > 1;
        check_inputs_for(minibatch, objective, distributed)?;
        let mut norm = Normalizer::from_lengths(minibatch.sequences.iter().map(|s| s.response.len()));
        let skip = self.config.skip_zero_advantage && objective.allows_skipping_zero_advantage();
        let evaluated: Vec<usize> =
            (0..minibatch.sequences.len()).filter(|&i| !skip || minibatch.advantages[i] != 0.0).collect();
        let path = if objective.needs_entropy_grad() { LogprobPath::Naive } else { LogprobPath::Fused };
        let seed = SplitMix64::for_stream(self.config.seed, self.optimizer.steps_taken()).next_u64();
        let params = self.model.params();
        let mut grads: Vec<Option<Tensor>> = vec![None; params.len()];
        let mut stats = ObjectiveStats::default();
        let mut sequences = vec![SequenceOutcome::default(); minibatch.sequences.len()];
        let device = self.model.device();
        let mut first = 0;
        let mut comm_seconds = 0.0;
        if distributed {
            let start = Instant::now();
            norm = data_parallel::global_normalizer(self.comm.as_ref(), norm)?;
            first = data_parallel::first_evaluated(self.comm.as_ref(), evaluated.len())?;
            comm_seconds += start.elapsed().as_secs_f64();
        }

        for (chunk_index, chunk) in evaluated.chunks(self.config.micro_batch_size).enumerate() {
            let micro = minibatch.select(chunk);
            let batch = SequenceBatch::new(&micro.sequences, self.model.config().vocab_size, device)?
                .with_temperature(self.config.scoring_temperature())?;
            let width = batch.response_width;
            let old = match &micro.old_logprobs {
                Some(rows) => Some(padded_rows(rows, width, device)?),
                None => None,
            };
            let reference = micro.ref_logprobs.as_ref().map(|r| padded_rows(r, width, device)).transpose()?;
            let statistic_mask =
                micro.forced_tokens.as_ref().map(|r| padded_rows(&counted_tokens(r), width, device)).transpose()?;
            let advantages = Tensor::new(micro.advantages.as_slice(), device)?;
            let checkpointing = self.config.activation_checkpointing;
            let (micro_grads, output) = self.model.loss_gradients(&batch, path, checkpointing, |token_stats| {
                // On-policy without a stored copy: the old log-probs are the current ones, detached.
                let current =
                    if micro.old_is_current && old.is_none() { Some(token_stats.logprobs.detach()) } else { None };
                let output = objective.loss(&ObjectiveInputs {
                    logprobs: &token_stats.logprobs,
                    old_logprobs: old.as_ref().or(current.as_ref()),
                    ref_logprobs: reference.as_ref(),
                    entropy: Some(&token_stats.entropy),
                    advantages: &advantages,
                    mask: &batch.response_mask,
                    statistic_mask: statistic_mask.as_ref(),
                    norm,
                    seed,
                    first_sequence: first + chunk_index * self.config.micro_batch_size,
                })?;
                Ok((output.loss, (output.stats, output.gated, output.mean_logprobs)))
            })?;
            let (output_stats, gated, means) = output;
            stats.merge(&output_stats);
            for ((&i, &gated), &mean) in chunk.iter().zip(&gated).zip(&means) {
                sequences[i] = SequenceOutcome { gated: Some(gated), mean_logprob: Some(mean) };
            }
            accumulate(&mut grads, micro_grads)?;
        }
        // Skipped sequences count in the sequence fractions (as zero-advantage, not gated: their
        // likelihood was never computed); token means are over evaluated tokens.
        let skipped = minibatch.sequences.len() - evaluated.len();
        stats.sequences += skipped as f64;
        stats.zero_advantage += skipped as f64;
        let mut skipped_count = [skipped as f64];
        let grads = grads
            .into_iter()
            .zip(params)
            .map(|(g, (_, var))| match g {
                Some(g) => Ok(g),
                None => Ok(Tensor::zeros(var.shape(), DType::F32, var.device())?),
            })
            .collect::<Result<Vec<_>>>()?;
        if !distributed {
            return Ok(Gradients { grads, stats, skipped_zero_advantage: skipped, sequences, comm_seconds });
        }
        let (comm, start) = (self.comm.as_ref(), Instant::now());
        comm.all_reduce_f64(&mut skipped_count, ReduceOp::Sum)?;
        let grads = data_parallel::reduce_gradients(comm, grads)?;
        let stats = data_parallel::reduce_stats(comm, &stats)?;
        comm_seconds += start.elapsed().as_secs_f64();
        Ok(Gradients { grads, stats, skipped_zero_advantage: skipped_count[0] as usize, sequences, comm_seconds })
    }

    /// One optimizer step on `minibatch`: gradients, a non-finite check (a non-finite loss or
    /// gradient skips the step and leaves weights and optimizer state untouched), global-norm
    /// clipping, AdamW at the scheduled learning rate. Returns the objective's metrics plus
    /// `grad_norm` (before clipping), `lr`, `skipped_zero_adv` (sequences), `skipped_nonfinite`
    /// (0 or 1), `step`, and across ranks `comm_s` (seconds in collectives).
    pub fn train_minibatch(&mut self, minibatch: &Minibatch, objective: &Objective) -> Result<Metrics> {
        Ok(self.train_step(minibatch, objective)?.metrics)
    }

    /// [`Policy::train_minibatch`], also returning what the objective decided for each sequence.
    pub fn train_step(&mut self, minibatch: &Minibatch, objective: &Objective) -> Result<StepOutcome> {
        let Gradients { grads, stats, skipped_zero_advantage, sequences, comm_seconds } =
            self.gradients(minibatch, objective)?;
        let mut metrics = stats.metrics();
        let norm = global_norm(&grads)?;
        // Clipping scales the gradients inside the optimizer's kernels (no scaled copy).
        let scale = self.config.max_grad_norm.map_or(1.0, |max| clip_factor(norm, max));
        let finite = norm.is_finite() && stats.loss.is_finite();
        let lr = self.config.optimizer.lr * self.config.schedule.factor(self.optimizer.steps_taken());
        if finite {
            self.optimizer.step_scaled(self.model.params(), &grads, lr, scale)?;
        }
        metrics.insert("grad_norm".into(), norm);
        metrics.insert("lr".into(), lr);
        metrics.insert("skipped_zero_adv".into(), skipped_zero_advantage as f64);
        metrics.insert("skipped_nonfinite".into(), if finite { 0.0 } else { 1.0 });
        metrics.insert("step".into(), self.optimizer.steps_taken() as f64);
        if self.comm.size() > 1 {
            metrics.insert("comm_s".into(), comm_seconds);
        }
        Ok(StepOutcome { metrics, sequences })
    }

    /// The updates of one rollout batch: old log-probs once before the first update when the
    /// objective needs them, then `updates` optimizer steps on consecutive minibatches.
    pub fn train_rollout(
        &mut self,
        rollout: &Rollout,
        objective: &Objective,
        updates: usize,
        source: OldLogprobSource,
    ) -> Result<RolloutReport> {
        let n = rollout.sequences.len();
        if updates == 0 || !n.is_multiple_of(updates) {
            bail_input!("updates ({updates}) must divide the rollout's {n} sequences into equal minibatches");
        }
        if rollout.advantages.len() != n {
            bail_input!("rollout.advantages has {} values for {n} sequences", rollout.advantages.len());
        }
        let size = n / updates;
        let start = Instant::now();
        let skip_first = source == OldLogprobSource::SkipFirst && objective.needs_old_logprobs();
        let old = if skip_first {
            // Rows of the first minibatch stay empty: it takes its own forward instead.
            let rest = if size < n {
                self.score(&rollout.sequences[size..], self.config.micro_batch_size)?
            } else {
                Vec::new()
            };
            Some(vec![Vec::new(); size].into_iter().chain(rest.into_iter().map(|s| s.logprobs)).collect())
        } else {
            self.old_logprobs(rollout, objective, source)?
        };
        // No pass ran for sampling log-probs, nor when skipping the only minibatch.
        let passed = old.is_some() && source != OldLogprobSource::Generation && !(skip_first && size == n);
        let old_logprob_seconds = if passed { start.elapsed().as_secs_f64() } else { 0.0 };
        let all = Minibatch {
            sequences: rollout.sequences.clone(),
            advantages: rollout.advantages.clone(),
            old_logprobs: old,
            ref_logprobs: rollout.ref_logprobs.clone(),
            old_is_current: false,
            forced_tokens: None,
        };
        let start = Instant::now();
        let mut reports = Vec::with_capacity(updates);
        for u in 0..updates {
            let indices: Vec<usize> = (u * size..(u + 1) * size).collect();
            let mut minibatch = all.select(&indices);
            if skip_first && u == 0 {
                minibatch.old_logprobs = None;
                minibatch.old_is_current = true;
            }
            reports.push(self.train_minibatch(&minibatch, objective)?);
        }
        Ok(RolloutReport { updates: reports, old_logprob_seconds, update_seconds: start.elapsed().as_secs_f64() })
    }
}

/// Checks that `minibatch` is well formed and carries what `objective` reads (a data-parallel
/// rank's share may be empty).
fn check_inputs_for(minibatch: &Minibatch, objective: &Objective, share: bool) -> Result<()> {
    if share {
        minibatch.validate_share()?;
    } else {
        minibatch.validate()?;
    }
    if objective.needs_old_logprobs() && minibatch.old_logprobs.is_none() && !minibatch.old_is_current {
        bail_input!("objective `{}` needs minibatch.old_logprobs (or old_is_current)", objective.name());
    }
    if objective.needs_ref_logprobs() && minibatch.ref_logprobs.is_none() {
        bail_input!("the KL penalty needs minibatch.ref_logprobs");
    }
    Ok(())
}

/// Adds one micro-batch's gradients into the running sums (`None`: no gradient reached that parameter).
fn accumulate(sums: &mut [Option<Tensor>], micro: Vec<Option<Tensor>>) -> Result<()> {
    for (acc, g) in sums.iter_mut().zip(micro) {
        if let Some(g) = g {
            *acc = Some(match acc.take() {
                Some(sum) => (sum + g)?,
                None => g,
            });
        }
    }
    Ok(())
}
