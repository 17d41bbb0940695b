/**
 * A trainable policy: a Qwen2/Qwen2.5 checkpoint in the Rust core with its optimizer. Every
 * method that touches tensors runs off the JS thread and returns a promise.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import type { NativePolicy } from "@lgpo/native";
import { isPathLike, resolveModel } from "../hub/model.js";
import type { ProgressOption } from "../hub/progress.js";
import { native } from "./native.js";
import { coreObjective, type ObjectiveConfig } from "./objectives.js";
import { Tokenizer } from "./tokenizer.js";
import { parseTrainConfig, type TrainConfig } from "./train_config.js";
import { assertFlagRows, assertNumbers, assertRows, assertTokenIds, describe } from "./validate.js";

/** Options of {@link Policy.load}. */
export interface LoadOptions {
  /** `cpu` (default), `cuda` or `cuda:N` (CUDA needs an addon built with the `cuda` feature: docs/gpu.md). */
  device?: "cpu" | "cuda" | `cuda:${number}`;
  /**
   * Compute dtype: f32 (default on CPU) or bf16 (default on CUDA), or f16. With bf16/f16 the
   * weights and activations are bf16/f16 while master weights, optimizer state, log-probs and
   * losses stay f32.
   */
  dtype?: "f32" | "bf16" | "f16";
  /** Default seed of generation and of the random gates. */
  seed?: number;
  /** Training settings (checked here, naming a bad field; defaults are the core's). */
  train?: TrainConfig;
  /** Revision (branch, tag or commit) of a Hugging Face id; default `main`. */
  revision?: string;
  /** Never download; default: `HF_HUB_OFFLINE`. */
  offline?: boolean;
  /** Download progress on stderr (default: on); `false` silences it. */
  progress?: ProgressOption;
}

/** Sampling options of {@link Policy.generate}. */
export interface GenerateOptions {
  /** Softmax temperature; 0 is greedy (default 1). */
  temperature?: number;
  /** Keep the k most likely tokens; 0 keeps all (default). */
  topK?: number;
  /** Nucleus sampling threshold (default 1: off). */
  topP?: number;
  /** New tokens per prompt at most (default 256). */
  maxNewTokens?: number;
  /** Stop after any of these ids; default: the checkpoint's `generation_config.json` eos ids, or the tokenizer's eos. */
  stopTokenIds?: number[];
  /** Seed (default: the policy's). */
  seed?: number;
  /**
   * Index of this call's first generation in a longer list generated in several calls (default
   * 0): generation r draws from random stream `firstRow + r`, so a list generated in chunks, or
   * across data-parallel ranks, equals the list generated in one call.
   */
  firstRow?: number;
  /** Wrap string prompts as a user message in the chat template. */
  chat?: boolean;
  /**
   * Samples per prompt (a GRPO group; default 1): `generate` returns `prompts.length * n`
   * generations, prompt-major (generation `i * n + k` is sample k of prompt i). Each prompt is
   * prefilled once and its KV cache shared by its samples.
   */
  n?: number;
  /**
   * Ids at or above this are never generated, and log-probs and entropies are those of the
   * distribution over the ids below it (as vLLM and TRL do). Default: the tokenizer's size,
   * added tokens included, when the checkpoint has a tokenizer smaller than its embedding table
   * (Qwen2.5 pads 151,665 tokens to 151,936 rows, whose extra rows decode to nothing); otherwise
   * no limit. `false`: no limit. Set a number for checkpoints without tokenizer files.
   */
  vocabLimit?: number | false;
  /**
   * Emit one process warning when generated ids are not in the tokenizer (they decode to
   * nothing; see {@link Generation.unknownTokens}). Default true.
   */
  warnUnknownTokens?: boolean;
}

/** One generated continuation. */
export interface Generation {
  promptIds: number[];
  tokens: number[];
  /** Decoded tokens, special tokens skipped (empty when the policy has no tokenizer). */
  text: string;
  /** Sampling log-prob of each token. */
  logprobs: number[];
  /**
   * Entropy (nats) of the next-token distribution at each token: softmax(logits / temperature)
   * over the allowed ids, before top-k/top-p (temperature 1 when greedy).
   */
  entropy: number[];
  /** Generated ids the tokenizer lacks, decoded to nothing in `text` (0 without a tokenizer). */
  unknownTokens: number;
  finishReason: "stop" | "length";
}

/** A sequence to score: token ids, or text when the policy has a tokenizer. */
export type ScoreInput = { promptIds: number[]; responseIds: number[] } | { prompt: string; response: string };

/** Log-probs and entropies of one response. */
export interface ResponseScore {
  logprobs: number[];
  entropy: number[];
  /** Mean response log-prob: what LGPO's gate compares with τ. */
  meanLogprob: number;
}

/** One optimizer step's data. */
export interface Minibatch {
  sequences: { promptIds: number[]; responseIds: number[] }[];
  advantages: number[];
  oldLogprobs?: number[][];
  refLogprobs?: number[][];
  /** The old policy is the current one (a rollout batch's first minibatch): ratio-based objectives take this step's own forward as old log-probs (ratios exactly 1), with no separate pass. */
  oldIsCurrent?: boolean;
  /** Per response token: forced by the task's format (left out of the gate's mean log-likelihood ℓ̄). */
  forcedTokens?: boolean[][];
}

/** What the objective decided for one sequence of a minibatch (`null`s: skipped for A = 0, never evaluated). */
export interface SequenceOutcome {
  /** Dropped by the trust region: LGPO's likelihood gate, GSPO's sequence clip. */
  gated: boolean | null;
  /** Mean response log-prob under the policy at this update: what LGPO's gate compares with τ. */
  meanLogprob: number | null;
}

/** The result of {@link Policy.trainStep}. */
export interface TrainStepResult {
  /**
   * The objective's metrics (`loss`, `gated_frac`, `zero_adv_frac`, `kept_nonzero_adv_frac`,
   * `clip_frac_low`, `clip_frac_high`, `logprob_mean`, `ratio_*`, `approx_kl`, ...) plus
   * `grad_norm`, `lr`, `skipped_zero_adv`, `skipped_nonfinite` and `step` (optimizer steps taken).
   */
  metrics: Record<string, number>;
  /** One outcome per sequence, in minibatch order. */
  sequences: SequenceOutcome[];
}

/** A Qwen2/Qwen2.5 policy with its optimizer, held by the Rust core. */
export class Policy {
  private constructor(
    private readonly inner: NativePolicy,
    /** The checkpoint's tokenizer, when the directory has one. */
    readonly tokenizer: Tokenizer | undefined,
    private readonly stopIds: number[],
    private readonly seed: number,
  ) {}

  /**
   * Loads a Hugging Face checkpoint: a local directory, or an id `org/name[@revision]` taken from
   * the hub cache or downloaded into it (see {@link resolveModel}). Rejects with an `Error` naming
   * the bad file, tensor or field, or a `HubError` naming the id.
   */
  static async load(idOrPath: string, options: LoadOptions = {}): Promise<Policy> {
    if (typeof idOrPath !== "string") throw new TypeError(`idOrPath must be a string, got ${describe(idOrPath)}`);
    // A path is handed to the core as it is, which names the missing file of a bad directory.
    const dir = isPathLike(idOrPath)
      ? idOrPath
      : await resolveModel(idOrPath, {
          revision: options.revision,
          offline: options.offline,
          progress: options.progress,
        });
    const seed = options.seed ?? 0;
    const given = options.train;
    const isObject = typeof given === "object" && given !== null && !Array.isArray(given);
    const train = parseTrainConfig(isObject ? { ...given, seed: given.seed ?? seed } : (given ?? { seed }));
    const inner = await native().loadPolicy(dir, { device: options.device, dtype: options.dtype, train });
    const tokenizer = hasTokenizer(dir) ? Tokenizer.fromDir(dir) : undefined;
    return new Policy(inner, tokenizer, defaultStopIds(dir, tokenizer), seed);
  }

  /** The model's `config.json`. */
  get config(): Record<string, unknown> {
    return this.inner.config as Record<string, unknown>;
  }

  /** Whether {@link dispose} was called. */
  get disposed(): boolean {
    return this.inner.disposed;
  }

  /**
   * Samples `options.n` (default 1) continuations per prompt, prompt-major (strings need a
   * tokenizer). Ids past the tokenizer are not sampled by default (see
   * {@link GenerateOptions.vocabLimit}); any generated id the tokenizer lacks decodes to nothing
   * and is counted, with one warning per call.
   */
  async generate(prompts: Array<string | number[]>, options: GenerateOptions = {}): Promise<Generation[]> {
    if (!Array.isArray(prompts)) throw new TypeError(`prompts must be an array, got ${describe(prompts)}`);
    const n = options.n ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`options.n must be a positive integer, got ${describe(n)}`);
    const promptIds = prompts.map((p, i) => this.promptIds(p, `prompts[${i}]`, options.chat ?? false));
    const out = await this.inner.generate(promptIds, {
      temperature: options.temperature,
      topK: options.topK,
      topP: options.topP,
      maxNewTokens: options.maxNewTokens,
      stopTokenIds: options.stopTokenIds ?? this.stopIds,
      seed: options.seed ?? this.seed,
      firstRow: options.firstRow,
      n,
      vocabLimit: this.vocabLimit(options.vocabLimit),
    });
    let unknown = 0;
    const generations = out.map((g, r): Generation => {
      const decoded = this.tokenizer?.decodeLenient(g.tokens, { skipSpecialTokens: true });
      unknown += decoded?.unknownTokens ?? 0;
      return {
        promptIds: promptIds[Math.floor(r / n)]!,
        tokens: g.tokens,
        text: decoded?.text ?? "",
        logprobs: g.logprobs,
        entropy: g.entropy,
        unknownTokens: decoded?.unknownTokens ?? 0,
        finishReason: g.finishReason,
      };
    });
    if (unknown > 0 && (options.warnUnknownTokens ?? true)) {
      process.emitWarning(
        `${unknown} generated token id(s) are not in the tokenizer's vocabulary of ${this.tokenizer!.vocabSize} and decoded to nothing`,
        {
          code: "LGPO_UNKNOWN_TOKENS",
          detail: "Set GenerateOptions.vocabLimit to the tokenizer's size to never sample them.",
        },
      );
    }
    return generations;
  }

  /**
   * Log-probs and entropies of every response token, without gradient, of softmax(logits / T)
   * with T the load options' `train.logprob_temperature` (default 1).
   */
  async logprobs(batch: ScoreInput[], options: { microBatchSize?: number } = {}): Promise<ResponseScore[]> {
    if (!Array.isArray(batch)) throw new TypeError(`batch must be an array, got ${describe(batch)}`);
    const sequences = batch.map((s, i) => this.sequence(s, `batch[${i}]`));
    return this.inner.logprobs(sequences, options.microBatchSize);
  }

  /** One optimizer step of `objective` on `minibatch`; resolves to the step's metrics and per-sequence outcomes. */
  async trainStep(minibatch: Minibatch, objective: ObjectiveConfig): Promise<TrainStepResult> {
    if (!Array.isArray(minibatch?.sequences)) throw new TypeError("minibatch.sequences must be an array");
    const sequences = minibatch.sequences.map((s, i) => this.sequence(s, `minibatch.sequences[${i}]`));
    assertNumbers(minibatch.advantages, "minibatch.advantages");
    const lengths = sequences.map((s) => s.responseIds.length);
    if (minibatch.oldLogprobs !== undefined) assertRows(minibatch.oldLogprobs, "minibatch.oldLogprobs", lengths);
    if (minibatch.refLogprobs !== undefined) assertRows(minibatch.refLogprobs, "minibatch.refLogprobs", lengths);
    if (minibatch.forcedTokens !== undefined) assertFlagRows(minibatch.forcedTokens, "minibatch.forcedTokens", lengths);
    const out = await this.inner.trainStep({ ...minibatch, sequences }, coreObjective(objective));
    return {
      metrics: out.metrics,
      sequences: out.sequences.map((o) => ({ gated: o.gated ?? null, meanLogprob: o.meanLogprob ?? null })),
    };
  }

  /** Optimizer steps taken so far (restored by {@link loadOptimizer}). */
  get optimizerSteps(): number {
    return this.inner.optimizerSteps;
  }

  /** Writes the optimizer state (AdamW moments, master weights, step count) to `path`, atomically. */
  async saveOptimizer(path: string): Promise<void> {
    return this.inner.saveOptimizer(path);
  }

  /** Restores an optimizer state written by {@link saveOptimizer} for the same model (hyper-parameters stay as loaded). */
  async loadOptimizer(path: string): Promise<void> {
    return this.inner.loadOptimizer(path);
  }

  /** Writes the policy as a Hugging Face checkpoint directory (atomically; tokenizer files carried over). */
  async save(dir: string, options: { dtype?: "f32" | "bf16" | "f16" } = {}): Promise<void> {
    return this.inner.save(dir, options.dtype);
  }

  /** Frees the model and optimizer; later calls throw. */
  dispose(): void {
    this.inner.dispose();
  }

  /** The vocabulary limit to sample under: the option, else the tokenizer's size when the model's vocabulary is larger. */
  private vocabLimit(option: number | false | undefined): number | undefined {
    if (option === false) return undefined;
    if (option !== undefined) {
      if (!Number.isInteger(option) || option < 1) {
        throw new TypeError(`options.vocabLimit must be a positive integer or false, got ${describe(option)}`);
      }
      return option;
    }
    const modelVocab = this.config.vocab_size as number;
    const tokenizerVocab = this.tokenizer?.vocabSize;
    return tokenizerVocab !== undefined && tokenizerVocab < modelVocab ? tokenizerVocab : undefined;
  }

  private promptIds(prompt: string | number[], name: string, chat: boolean): number[] {
    if (typeof prompt === "string") {
      const tokenizer = this.requireTokenizer(name);
      const text = chat ? tokenizer.applyChatTemplate([{ role: "user", content: prompt }]) : prompt;
      return tokenizer.encode(text);
    }
    assertTokenIds(prompt, name);
    return Array.from(prompt);
  }

  private sequence(s: ScoreInput, name: string): { promptIds: number[]; responseIds: number[] } {
    if (s !== null && typeof s === "object" && "prompt" in s) {
      const tokenizer = this.requireTokenizer(name);
      if (typeof s.prompt !== "string" || typeof s.response !== "string") {
        throw new TypeError(`${name}.prompt and ${name}.response must be strings`);
      }
      return { promptIds: tokenizer.encode(s.prompt), responseIds: tokenizer.encode(s.response) };
    }
    if (s === null || typeof s !== "object") throw new TypeError(`${name} must be an object, got ${describe(s)}`);
    assertTokenIds(s.promptIds, `${name}.promptIds`);
    assertTokenIds(s.responseIds, `${name}.responseIds`);
    return { promptIds: Array.from(s.promptIds), responseIds: Array.from(s.responseIds) };
  }

  private requireTokenizer(name: string): Tokenizer {
    if (this.tokenizer === undefined) {
      throw new TypeError(`${name} is text, but the checkpoint has no tokenizer files; pass token ids`);
    }
    return this.tokenizer;
  }
}

function hasTokenizer(dir: string): boolean {
  return existsSync(join(dir, "tokenizer.json")) || existsSync(join(dir, "vocab.json"));
}

/** eos ids of `generation_config.json`, else the tokenizer's eos token, else none. */
function defaultStopIds(dir: string, tokenizer: Tokenizer | undefined): number[] {
  const path = join(dir, "generation_config.json");
  if (existsSync(path)) {
    const eos = (JSON.parse(readFileSync(path, "utf8")) as { eos_token_id?: number | number[] }).eos_token_id;
    if (typeof eos === "number") return [eos];
    if (Array.isArray(eos)) return eos;
  }
  const id = tokenizer?.eosTokenId;
  return id === undefined ? [] : [id];
}

/** Writes a randomly initialised checkpoint for `config` (a `config.json` object): for tests and benchmarks. */
export async function initRandomCheckpoint(
  dir: string,
  config: Record<string, unknown>,
  options: { seed?: number; dtype?: "f32" | "bf16" | "f16" } = {},
): Promise<void> {
  return native().initRandomCheckpoint(dir, config, options.seed, options.dtype);
}
