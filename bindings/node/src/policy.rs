//! The trainable policy: load, generate, score, train, save, dispose. Every heavy call is an
//! `AsyncTask` (libuv's thread pool), so the JS thread never blocks on tensor work.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use candle_core::DType;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Result, Task};
use napi_derive::napi;

use crate::convert::{core, device, dtype, from_json, rows_f32, values_f64, SamplingOptions, SequenceInput};
use crate::errors::{guard, invalid};
use lgpo_core::generate::{generate, FinishReason};
use lgpo_core::model::{Qwen2, Sequence};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::optim::AdamW;
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

pub struct LoadTask {
    dir: String,
    options: LoadOptions,
}

impl Task for LoadTask {
    type Output = (Policy, PathBuf);
    type JsValue = NativePolicy;

    fn compute(&mut self) -> Result<Self::Output> {
        guard(|| {
            let device = device(self.options.device.as_deref())?;
            let dtype = dtype(self.options.dtype.as_deref(), &device)?;
            let train: TrainConfig = match self.options.train.take() {
                Some(v) => from_json(v, "train config")?,
                None => TrainConfig::default(),
            };
            let model = core(Qwen2::load(&self.dir, &device, dtype))?;
            Ok((core(Policy::new(model, train))?, PathBuf::from(&self.dir)))
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

pub struct GenerateTask {
    shared: Shared,
    prompts: Vec<Vec<u32>>,
    params: lgpo_core::generate::SamplingParams,
}

impl Task for GenerateTask {
    type Output = Vec<GenerationOutput>;
    type JsValue = Vec<GenerationOutput>;

    fn compute(&mut self) -> Result<Self::Output> {
        guard(|| {
            with_policy(&self.shared, |p| {
                let out = core(generate(p.model(), &self.prompts, &self.params))?;
                Ok(out
                    .into_iter()
                    .map(|g| GenerationOutput {
                        logprobs: values_f64(&g.logprobs),
                        entropy: values_f64(&g.entropies),
                        tokens: g.tokens,
                        finish_reason: match g.finish_reason {
                            FinishReason::Stop => "stop",
                            FinishReason::Length => "length",
                        }
                        .to_string(),
                    })
                    .collect())
            })
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Log-probs and entropies of one sequence's response tokens.
#[napi(object)]
pub struct ScoreOutput {
    pub logprobs: Vec<f64>,
    pub entropy: Vec<f64>,
    /// Mean log-prob of the response: the quantity LGPO's gate compares with τ.
    pub mean_logprob: f64,
}

pub struct ScoreTask {
    shared: Shared,
    sequences: Vec<Sequence>,
    micro_batch_size: Option<u32>,
}

impl Task for ScoreTask {
    type Output = Vec<ScoreOutput>;
    type JsValue = Vec<ScoreOutput>;

    fn compute(&mut self) -> Result<Self::Output> {
        guard(|| {
            with_policy(&self.shared, |p| {
                let micro = self.micro_batch_size.map_or(p.config().micro_batch_size, |m| m as usize);
                let scores = core(p.score(&self.sequences, micro))?;
                Ok(scores
                    .into_iter()
                    .map(|s| {
                        let n = s.logprobs.len().max(1) as f64;
                        let mean_logprob = s.logprobs.iter().map(|&v| v as f64).sum::<f64>() / n;
                        ScoreOutput { logprobs: values_f64(&s.logprobs), entropy: values_f64(&s.entropy), mean_logprob }
                    })
                    .collect())
            })
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
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

pub struct TrainTask {
    shared: Shared,
    minibatch: Minibatch,
    objective: ObjectiveConfig,
}

impl Task for TrainTask {
    type Output = TrainStepOutput;
    type JsValue = TrainStepOutput;

    fn compute(&mut self) -> Result<Self::Output> {
        guard(|| {
            let objective = core(Objective::from_config(&self.objective))?;
            with_policy(&self.shared, |p| {
                let outcome = core(p.train_step(&self.minibatch, &objective))?;
                Ok(TrainStepOutput {
                    metrics: outcome.metrics.into_iter().collect(),
                    sequences: outcome
                        .sequences
                        .into_iter()
                        .map(|s| SequenceOutcomeOutput { gated: s.gated, mean_logprob: s.mean_logprob })
                        .collect(),
                })
            })
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Work on the policy that returns nothing.
type Job = Box<dyn FnOnce(&mut Policy) -> lgpo_core::Result<()> + Send>;

/// A [`Job`] run off the JS thread (optimizer state I/O).
pub struct PolicyJob {
    shared: Shared,
    job: Option<Job>,
}

impl Task for PolicyJob {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        let job = self.job.take().ok_or_else(|| invalid("this task already ran"))?;
        guard(|| with_policy(&self.shared, |p| core(job(p))))
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }
}

pub struct SaveTask {
    shared: Shared,
    dir: String,
    dtype: DType,
    source: PathBuf,
}

impl Task for SaveTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        guard(|| {
            with_policy(&self.shared, |p| {
                core(lgpo_core::checkpoint::save_pretrained(p.model(), &self.dir, self.dtype, Some(&self.source)))
            })
        })
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
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
    ) -> Result<AsyncTask<GenerateTask>> {
        let params = match options {
            Some(o) => o.to_core()?,
            None => lgpo_core::generate::SamplingParams::default(),
        };
        Ok(AsyncTask::new(GenerateTask { shared: self.shared.clone(), prompts, params }))
    }

    /// Log-probs and entropies of each sequence's response tokens, without gradient.
    #[napi(ts_return_type = "Promise<ScoreOutput[]>")]
    pub fn logprobs(&self, sequences: Vec<SequenceInput>, micro_batch_size: Option<u32>) -> AsyncTask<ScoreTask> {
        let sequences = sequences.iter().map(Sequence::from).collect();
        AsyncTask::new(ScoreTask { shared: self.shared.clone(), sequences, micro_batch_size })
    }

    /// One optimizer step of `objective` (the core's `ObjectiveConfig` as JSON) on `minibatch`;
    /// resolves to the step's metrics and one outcome per sequence.
    #[napi(js_name = "trainStep", ts_return_type = "Promise<TrainStepOutput>")]
    pub fn train_step(&self, minibatch: MinibatchInput, objective: serde_json::Value) -> Result<AsyncTask<TrainTask>> {
        let objective: ObjectiveConfig = from_json(objective, "objective config")?;
        let minibatch = Minibatch {
            sequences: minibatch.sequences.iter().map(Sequence::from).collect(),
            advantages: minibatch.advantages.iter().map(|&a| a as f32).collect(),
            old_logprobs: minibatch.old_logprobs.as_deref().map(rows_f32),
            ref_logprobs: minibatch.ref_logprobs.as_deref().map(rows_f32),
            old_is_current: minibatch.old_is_current.unwrap_or(false),
            forced_tokens: minibatch.forced_tokens,
        };
        Ok(AsyncTask::new(TrainTask { shared: self.shared.clone(), minibatch, objective }))
    }

    /// Writes the policy as a Hugging Face checkpoint directory (atomically), in `dtype`
    /// (`f32` default, `bf16`, `f16`), carrying the tokenizer files of the loaded directory.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, dir: String, dtype: Option<String>) -> Result<AsyncTask<SaveTask>> {
        let dtype = crate::convert::dtype(Some(dtype.as_deref().unwrap_or("f32")), &candle_core::Device::Cpu)?;
        Ok(AsyncTask::new(SaveTask { shared: self.shared.clone(), dir, dtype, source: self.dir.clone() }))
    }

    /// Writes the optimizer state (AdamW moments, master weights, step count) to `path`
    /// (safetensors, atomically).
    #[napi(js_name = "saveOptimizer", ts_return_type = "Promise<void>")]
    pub fn save_optimizer(&self, path: String) -> AsyncTask<PolicyJob> {
        let job = Box::new(move |p: &mut Policy| p.optimizer().save(&path));
        AsyncTask::new(PolicyJob { shared: self.shared.clone(), job: Some(job) })
    }

    /// Replaces the optimizer state with the one at `path` (written by `saveOptimizer` for the
    /// same model); the policy's current hyper-parameters are kept.
    #[napi(js_name = "loadOptimizer", ts_return_type = "Promise<void>")]
    pub fn load_optimizer(&self, path: String) -> AsyncTask<PolicyJob> {
        let job = Box::new(move |p: &mut Policy| {
            let optimizer = AdamW::load(&path, p.model().params(), *p.optimizer().config())?;
            p.set_optimizer(optimizer);
            Ok(())
        });
        AsyncTask::new(PolicyJob { shared: self.shared.clone(), job: Some(job) })
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
            let config: lgpo_core::model::Qwen2Config =
                from_json(self.config.take().unwrap_or_default(), "model config")?;
            core(config.validate(std::path::Path::new("<config>")))?;
            let model = core(Qwen2::random(config, self.seed, &candle_core::Device::Cpu, DType::F32))?;
            core(lgpo_core::checkpoint::save_pretrained(&model, &self.dir, self.dtype, None))
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
    let dtype = crate::convert::dtype(Some(dtype.as_deref().unwrap_or("f32")), &candle_core::Device::Cpu)?;
    Ok(AsyncTask::new(InitTask { dir, config: Some(config), seed: seed.unwrap_or(0).max(0) as u64, dtype }))
}
