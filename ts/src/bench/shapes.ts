/**
 * Model shapes of the benchmarks, as random checkpoints cached on disk (built once with
 * {@link initRandomCheckpoint}: Hugging Face's initialisation, f32).
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { initRandomCheckpoint } from "../sdk/policy.js";
import { hashSeed, mulberry32 } from "../util/random.js";

const QWEN25_VOCAB = 151_936;
/** Ids below this are ordinary Qwen2.5 tokens (151,643 is `<|endoftext|>`). */
const QWEN25_ORDINARY_TOKENS = 151_643;

/**
 * `tiny`: hidden size 64, 2 layers and the Qwen2.5 vocabulary, where the LM head and the sampler
 * dominate. `half`: the Qwen2.5-0.5B architecture (its `config.json`) cut to 2 of its 24 layers.
 */
export const BENCH_SHAPES = {
  tiny: {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    vocab_size: QWEN25_VOCAB,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 32768,
    rope_theta: 10000.0,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
  half: {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    vocab_size: QWEN25_VOCAB,
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 2,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    max_position_embeddings: 32768,
    rope_theta: 1000000.0,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  },
} as const satisfies Record<string, Record<string, unknown>>;

export type BenchShape = keyof typeof BENCH_SHAPES;

/** The names of the shapes. */
export const BENCH_SHAPE_NAMES = Object.keys(BENCH_SHAPES) as BenchShape[];

/** Where random benchmark checkpoints are cached by default. */
export function defaultCacheDir(): string {
  return join(tmpdir(), "lgpo-bench");
}

/**
 * The directory of a random checkpoint of `shape` under `cacheDir`, written on first use (seed 0)
 * and reused while its config is unchanged (the config's hash is in the directory name).
 */
export async function benchCheckpoint(shape: BenchShape, cacheDir = defaultCacheDir()): Promise<string> {
  const config = BENCH_SHAPES[shape];
  const dir = join(cacheDir, `${shape}-${hashSeed(JSON.stringify(config)).toString(16)}`);
  if (!existsSync(join(dir, "config.json")) || !existsSync(join(dir, "model.safetensors"))) {
    await initRandomCheckpoint(dir, { ...config }, { seed: 0 });
  }
  return dir;
}

/** `rows` random prompts of `length` ordinary Qwen2.5 token ids, the same for the same seed. */
export function benchPrompts(rows: number, length: number, seed = 0, vocab = QWEN25_ORDINARY_TOKENS): number[][] {
  const random = mulberry32(seed);
  const ids = Math.min(vocab, QWEN25_ORDINARY_TOKENS);
  return Array.from({ length: rows }, () => Array.from({ length }, () => Math.floor(random() * ids)));
}
