//! The trainable policy: load, generate, score, train, save, dispose. Every heavy call is an
//! `AsyncTask` (libuv's thread pool), so the JS thread never blocks on tensor work: one generic
//! [`PolicyTask`] runs a closure on the policy behind its lock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use candle_core::DType;
use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName};
use napi::{Env, Result, Task};
use napi_derive::napi;

use crate::convert::{core, device, dtype, from_json, rows_f32, values_f64, SamplingOptions, SequenceInput};
use crate::errors::{guard, invalid};
use lgpo_core::checkpoint::save_pretrained;
use lgpo_core::generate::{generate, FinishReason};
use lgpo_core::model::{Qwen2, Sequence};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::policy::{Minibatch, Policy, TrainConfig};

/// The core policy behind a lock; `None` once disposed.
type Shared = Arc<Mutex<Option<Policy>>>;

/// Runs `f` on the policy, failing cleanly when it was disposed or broken by an earlier panic.
fn with_policy<T>(shared: &Shared, f: impl FnOnce(&mut Policy) -> Result<T>) -> Result<T> {
    let mut guard_ =
        shared.lock().map_err(|_| invalid("the policy is unusable after an internal error; load it again"))?;
    match guard_.as_mut() {
        Some(policy) => f(policy),
        None => Err(invalid("the policy has been disposed")),
    }
}

/// Options of [`load_policy`].
#[napi(object)]
pub struct LoadOptions {
    /// `cpu` (default), `cuda` or `cuda:N`.
    pub device: Option<String>,
    /// `f32` (default on CPU), `bf16` (default on CUDA) or `f16`.
    pub dtype: Option<String>,
    /// Training settings: the core's `TrainConfig` as JSON (`optimizer`, `schedule`,
    /// `max_grad_norm`, `micro_batch_size`, `skip_zero_advantage`, `seed`,
    /// `activation_checkpointing`).
    pub train: Option<serde_json::Value>,
}

/// The core's default training settings (`TrainConfig::default()`), as the JSON `Policy.load`
/// takes: the SDK's schema is checked against it.
#[napi(js_name = "defaultTrainConfig")]
pub fn default_train_config() -> Result<serde_json::Value> {
    serde_json::to_value(TrainConfig::default()).map_err(|e| invalid(e.to_string()))
}

pub struct LoadTask {
    dir: String,
    options: LoadOptions,
}

impl Task for LoadTask {
    type Output = (Policy, PathBuf);
    type JsValue = NativePolicy;

    fn compute(&mut self) -> Result<Self::Output> {
        guard(|| {
            let name = self.options.device.as_deref().map(lgpo_core::comm::rank_device);
            let device = device(name.as_deref())?;
            let dtype = dtype(self.options.dtype.as_deref(), &device)?;
            let train: TrainConfig = match self.options.train.take() {
                Some(v) => from_json(v, "train config")?,
                None => TrainConfig::default(),
            };
            let model = core(Qwen2::load(&self.dir, &device, dtype))?;
            let mut policy = core(Policy::new(model, train))?;
            // In a data-parallel job, training steps reduce over the ranks (initDistributed).
            if let Some(comm) = crate::distributed::communicator_for(&device)? {
                policy.set_communicator(comm);
            }
            Ok((policy, PathBuf::from(&self.dir)))
        })
    }

    fn resolve(&mut self, _env: Env, (policy, dir): Self::Output) -> Result<NativePolicy> {
        Ok(NativePolicy { shared: Arc::new(Mutex::new(Some(policy))), dir })
    }
}

/// Loads a Hugging Face checkpoint directory as a trainable policy (off the JS thread).
#[napi(js_name = "loadPolicy", ts_return_type = "Promise<NativePolicy>")]
pub fn load_policy(dir: String, options: Option<LoadOptions>) -> AsyncTask<LoadTask> {
    let options = options.unwrap_or(LoadOptions { device: None, dtype: None, train: None });
    AsyncTask::new(LoadTask { dir, options })
}

/// One generated row.
#[napi(object)]
pub struct GenerationOutput {
    pub tokens: Vec<u32>,
    /// Sampling log-prob of each token.
    pub logprobs: Vec<f64>,
    /// Entropy (nats) of the tempered next-token distribution at each token, before top-k/top-p.
    pub entropy: Vec<f64>,
    #[napi(ts_type = "'stop' | 'length'")]
    pub finish_reason: String,
}

/// Log-probs and entropies of one sequence's response tokens.
#[napi(object)]
pub struct ScoreOutput {
    pub logprobs: Vec<f64>,
    pub entropy: Vec<f64>,
    /// Mean log-prob of the response: the quantity LGPO's gate compares with τ.
    pub mean_logprob: f64,
}

/// One optimizer step's data.
#[napi(object)]
pub struct MinibatchInput {
    pub sequences: Vec<SequenceInput>,
    /// One advantage per sequence.
    pub advantages: Vec<f64>,
    /// Old-policy log-probs per response token (ratio-based objectives).
    pub old_logprobs: Option<Vec<Vec<f64>>>,
    /// Reference-policy log-probs per response token (KL penalty).
    pub ref_logprobs: Option<Vec<Vec<f64>>>,
    /// The old policy is the current one (first minibatch of a rollout batch): ratio-based
    /// objectives use this step's own forward as old log-probs (ratios exactly 1, no extra pass).
    pub old_is_current: Option<bool>,
    /// Per response token: forced by the task's format (left out of the gate's mean
    /// log-likelihood).
    pub forced_tokens: Option<Vec<Vec<bool>>>,
}

/// What the objective decided for one sequence; `null`s when it was skipped for A = 0.
#[napi(object)]
pub struct SequenceOutcomeOutput {
    /// Dropped by the trust region (LGPO gate, GSPO sequence clip).
    pub gated: Option<bool>,
    /// Mean response log-prob under the policy at this update (LGPO's gate statistic).
    pub mean_logprob: Option<f64>,
}

/// The metrics of one optimizer step and one outcome per sequence, in minibatch order.
#[napi(object)]
pub struct TrainStepOutput {
    pub metrics: HashMap<String, f64>,
    pub sequences: Vec<SequenceOutcomeOutput>,
}

/// Work on the policy, run off the JS thread.
type Job<T> = Box<dyn FnOnce(&mut Policy) -> Result<T> + Send>;

/// A [`Job`] as a napi task on libuv's pool; every policy method that touches tensors is one.
pub struct PolicyTask<T> {
    shared: Shared,
    job: Option<Job<T>>,
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for PolicyTask<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> Result<T> {
        let job = self.job.take().ok_or_else(|| invalid("this task already ran"))?;
        guard(|| with_policy(&self.shared, job))
    }

    fn resolve(&mut self, _env: Env, output: T) -> Result<T> {
        Ok(output)
    }
}

impl NativePolicy {
    /// `job` as a task on this policy.
    fn task<T>(&self, job: impl FnOnce(&mut Policy) -> Result<T> + Send + 'static) -> AsyncTask<PolicyTask<T>>
    where
        T: ToNapiValue + TypeName + Send + 'static,
    {
        AsyncTask::new(PolicyTask { shared: self.shared.clone(), job: Some(Box::new(job)) })
    }
}

fn generation_output(g: lgpo_core::generate::Generation) -> GenerationOutput {
    GenerationOutput {
        logprobs: values_f64(&g.logprobs),
        entropy: values_f64(&g.entropies),
        tokens: g.tokens,
        finish_reason: match g.finish_reason {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
        .to_string(),
    }
}

/// A trainable policy held by the native addon. Create it with `loadPolicy`.
#[napi]
pub struct NativePolicy {
    shared: Shared,
    /// The directory it was loaded from (tokenizer and generation files are carried on save).
    dir: PathBuf,
}

#[napi]
impl NativePolicy {
    /// Samples continuations of token-id prompts: `n` per prompt (option), prompt-major.
    #[napi(ts_return_type = "Promise<GenerationOutput[]>")]
    pub fn generate(
        &self,
        prompts: Vec<Vec<u32>>,
        options: Option<SamplingOptions>,
    ) -> Result<AsyncTask<PolicyTask<Vec<GenerationOutput>>>> {
        let params = match options {
            Some(o) => o.to_core()?,
            None => lgpo_core::generate::SamplingParams::default(),
        };
        Ok(self.task(move |p| {
            let out = core(generate(p.model(), &prompts, &params))?;
            Ok(out.into_iter().map(generation_output).collect())
        }))
    }

    /// Log-probs and entropies of each sequence's response tokens, without gradient.
    #[napi(ts_return_type = "Promise<ScoreOutput[]>")]
    pub fn logprobs(
        &self,
        sequences: Vec<SequenceInput>,
        micro_batch_size: Option<u32>,
    ) -> AsyncTask<PolicyTask<Vec<ScoreOutput>>> {
        let sequences: Vec<Sequence> = sequences.iter().map(Sequence::from).collect();
        self.task(move |p| {
            let micro = micro_batch_size.map_or(p.config().micro_batch_size, |m| m as usize);
            let scores = core(p.score(&sequences, micro))?;
            Ok(scores
                .into_iter()
                .map(|s| ScoreOutput {
                    mean_logprob: s.mean_logprob(),
                    logprobs: values_f64(&s.logprobs),
                    entropy: values_f64(&s.entropy),
                })
                .collect())
        })
    }

    /// One optimizer step of `objective` (the core's `ObjectiveConfig` as JSON) on `minibatch`;
    /// resolves to the step's metrics and one outcome per sequence.
    #[napi(js_name = "trainStep", ts_return_type = "Promise<TrainStepOutput>")]
    pub fn train_step(
        &self,
        minibatch: MinibatchInput,
        objective: serde_json::Value,
    ) -> Result<AsyncTask<PolicyTask<TrainStepOutput>>> {
        let objective: ObjectiveConfig = from_json(objective, "objective config")?;
        let minibatch = Minibatch {
            sequences: minibatch.sequences.iter().map(Sequence::from).collect(),
            advantages: minibatch.advantages.iter().map(|&a| a as f32).collect(),
            old_logprobs: minibatch.old_logprobs.as_deref().map(rows_f32),
            ref_logprobs: minibatch.ref_logprobs.as_deref().map(rows_f32),
            old_is_current: minibatch.old_is_current.unwrap_or(false),
            forced_tokens: minibatch.forced_tokens,
        };
        Ok(self.task(move |p| {
            let objective = core(Objective::from_config(&objective))?;
            let outcome = core(p.train_step(&minibatch, &objective))?;
            Ok(TrainStepOutput {
                metrics: outcome.metrics.into_iter().collect(),
                sequences: outcome
                    .sequences
                    .into_iter()
                    .map(|s| SequenceOutcomeOutput { gated: s.gated, mean_logprob: s.mean_logprob })
                    .collect(),
            })
        }))
    }

    /// Writes the policy as a Hugging Face checkpoint directory (atomically), in `dtype`
    /// (`f32` default, `bf16`, `f16`), carrying the tokenizer files of the loaded directory.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, dir: String, dtype: Option<String>) -> Result<AsyncTask<PolicyTask<()>>> {
        let dtype = save_dtype(dtype.as_deref())?;
        let source = self.dir.clone();
        Ok(self.task(move |p| core(save_pretrained(p.model(), &dir, dtype, Some(&source)))))
    }

    /// Writes the optimizer state (AdamW moments, master weights, step count) to `path`
    /// (safetensors, atomically).
    #[napi(js_name = "saveOptimizer", ts_return_type = "Promise<void>")]
    pub fn save_optimizer(&self, path: String) -> AsyncTask<PolicyTask<()>> {
        self.task(move |p| core(p.save_optimizer(&path)))
    }

    /// Replaces the optimizer state with the one at `path` (written by `saveOptimizer` for the
    /// same model); the policy's current hyper-parameters are kept.
    #[napi(js_name = "loadOptimizer", ts_return_type = "Promise<void>")]
    pub fn load_optimizer(&self, path: String) -> AsyncTask<PolicyTask<()>> {
        self.task(move |p| core(p.load_optimizer(&path)))
    }

    /// Optimizer steps taken (restored by `loadOptimizer`).
    #[napi(getter, js_name = "optimizerSteps")]
    pub fn optimizer_steps(&self) -> Result<i64> {
        with_policy(&self.shared, |p| Ok(p.optimizer().steps_taken() as i64))
    }

    /// Frees the model and optimizer; later calls throw.
    #[napi]
    pub fn dispose(&self) -> Result<()> {
        let mut slot = self.shared.lock().map_err(|_| invalid("the policy is unusable after an internal error"))?;
        *slot = None;
        Ok(())
    }

    /// Whether `dispose` was called.
    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.shared.lock().map(|p| p.is_none()).unwrap_or(true)
    }

    /// Architecture of the loaded model (its `config.json`).
    #[napi(getter)]
    pub fn config(&self) -> Result<serde_json::Value> {
        with_policy(&self.shared, |p| serde_json::to_value(p.model().config()).map_err(|e| invalid(e.to_string())))
    }
}

pub struct InitTask {
    dir: String,
    config: Option<serde_json::Value>,
    seed: u64,
    dtype: DType,
}

impl Task for InitTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        guard(|| {
            let config = from_json(self.config.take().unwrap_or_default(), "model config")?;
            core(lgpo_core::checkpoint::init_random_checkpoint(config, self.seed, &self.dir, self.dtype))
        })
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }
}

/// Writes a randomly initialised checkpoint (Hugging Face's Qwen2 initialisation from `seed`)
/// for `config` (a `config.json` object) to `dir`: for tests and benchmarks of model shapes.
#[napi(js_name = "initRandomCheckpoint", ts_return_type = "Promise<void>")]
pub fn init_random_checkpoint(
    dir: String,
    config: serde_json::Value,
    seed: Option<i64>,
    dtype: Option<String>,
) -> Result<AsyncTask<InitTask>> {
    let dtype = save_dtype(dtype.as_deref())?;
    let seed = crate::convert::non_negative(seed, "seed")?;
    Ok(AsyncTask::new(InitTask { dir, config: Some(config), seed, dtype }))
}

/// A checkpoint dtype by name, the core's default when `None`.
fn save_dtype(name: Option<&str>) -> Result<DType> {
    match name {
        None => Ok(lgpo_core::checkpoint::DEFAULT_SAVE_DTYPE),
        Some(name) => dtype(Some(name), &candle_core::Device::Cpu),
    }
}
