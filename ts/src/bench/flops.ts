/**
 * Model FLOPs of an RL step and the machine's GEMM peak, for model FLOPs utilisation (MFU): the
 * FLOPs the model needs (matmuls: 2 per parameter per token forward, 6 forward + backward;
 * causal attention: 2·L·d·s² per sequence of length s forward, 6·L·d·s² forward + backward, as in
 * PaLM's appendix B) over the seconds taken and the best f32 matmul FLOP/s of the machine. The LM
 * head (the tied embedding counted once) runs only where a next token is scored: at the R
 * positions that predict a sequence's R response tokens, never at the other prompt positions, so
 * it counts R times per sequence, not P + R times (counting it at every position made the
 * half shape's MFU look 1.7 times what it is, and over 1 with 64-token prompts). Padding and
 * recomputation are not model FLOPs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { native } from "../sdk/native.js";
import type { TrainSequence } from "../trainer/updates.js";

/** The model FLOPs of one RL step's phases. */
export interface StepFlops {
  /** Generation: each prompt prefilled once per group, each response token decoded. */
  generate: number;
  /** One no-grad forward over the whole rollout batch (the old-log-prob pass). */
  forward: number;
  /** Forward and backward over the sequences trained on (zero-advantage ones left out when skipped). */
  train: number;
}

/** Matmul parameters of the decoder layers and of the LM head, and the attention dimensions of a Qwen2 `config.json`. */
export function modelShape(config: Record<string, number>): {
  body: number;
  head: number;
  layers: number;
  width: number;
} {
  const h = config.hidden_size!;
  const layers = config.num_hidden_layers!;
  const headDim = h / config.num_attention_heads!;
  const kv = config.num_key_value_heads! * headDim;
  const perLayer = 2 * h * h + 2 * h * kv + 3 * h * config.intermediate_size!;
  return { body: layers * perLayer, head: config.vocab_size! * h, layers, width: h };
}

/** The model FLOPs of a step on `sequences` (G samples per group, consecutive) of the checkpoint in `dir`. */
export function stepFlops(dir: string, sequences: readonly TrainSequence[], skipZeroAdvantage: boolean): StepFlops {
  const m = modelShape(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
  // The decoder layers over `len` tokens, with causal attention, and the head at `scored` positions.
  const pass = (len: number, scored: number) =>
    2 * m.body * len + 2 * m.layers * m.width * len * len + 2 * m.head * scored;
  const forward = (seqs: readonly TrainSequence[]) =>
    seqs.reduce((f, s) => f + pass(s.promptIds.length + s.responseIds.length, s.responseIds.length), 0);
  // Generation: the layers over each distinct prompt once, then per row the layers over the
  // response tokens (attention to the whole prefix) and the head once per response token.
  const prompts = new Set(sequences.map((s) => s.promptIds.join(",")));
  const prefill = [...prompts].reduce((f, p) => f + pass(p.split(",").length, 0), 0);
  const decoded = sequences.reduce((f, s) => {
    const [p, r] = [s.promptIds.length, s.responseIds.length];
    return f + pass(p + r, r) - pass(p, 0);
  }, 0);
  const trained = skipZeroAdvantage ? sequences.filter((s) => s.advantage !== 0) : sequences;
  return { generate: prefill + decoded, forward: forward(sequences), train: 3 * forward(trained) };
}

/** The best f32 matmul FLOP/s of the CPU through candle over square sizes 512 to 2048. */
export function matmulPeak(): number {
  return Math.max(...[512, 1024, 2048].map((n) => native().matmulPeakFlops(n, n >= 2048 ? 3 : 5)));
}
