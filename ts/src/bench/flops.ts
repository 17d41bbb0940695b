/**
 * Model FLOPs of an RL step and the machine's GEMM peak, for model FLOPs utilisation (MFU): the
 * FLOPs the model needs (matmuls: 2 per parameter per token forward, 6 forward + backward, with
 * the tied embedding counted once as the LM head; causal attention: 2·L·d·s² per sequence of
 * length s forward, 6·L·d·s² forward + backward, as in PaLM's appendix B) over the seconds taken
 * and the best f32 matmul FLOP/s of the machine. Padding and recomputation are not model FLOPs.
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

/** Matmul parameters per token and the attention dimensions of a Qwen2 `config.json`. */
export function modelShape(config: Record<string, number>): { params: number; layers: number; width: number } {
  const h = config.hidden_size!;
  const layers = config.num_hidden_layers!;
  const headDim = h / config.num_attention_heads!;
  const kv = config.num_key_value_heads! * headDim;
  const perLayer = 2 * h * h + 2 * h * kv + 3 * h * config.intermediate_size!;
  return { params: config.vocab_size! * h + layers * perLayer, layers, width: h };
}

/** The model FLOPs of a step on `sequences` (G samples per group, consecutive) of the checkpoint in `dir`. */
export function stepFlops(dir: string, sequences: readonly TrainSequence[], skipZeroAdvantage: boolean): StepFlops {
  const m = modelShape(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
  const forward = (seqs: readonly TrainSequence[]) =>
    seqs.reduce((f, s) => {
      const len = s.promptIds.length + s.responseIds.length;
      return f + 2 * m.params * len + 2 * m.layers * m.width * len * len;
    }, 0);
  const prompts = new Set(sequences.map((s) => s.promptIds.join(",")));
  const prefill = [...prompts].reduce((f, p) => {
    const len = p.split(",").length;
    return f + 2 * m.params * len + 2 * m.layers * m.width * len * len;
  }, 0);
  const decoded =
    forward(sequences) -
    sequences.reduce((f, s) => {
      const len = s.promptIds.length;
      return f + 2 * m.params * len + 2 * m.layers * m.width * len * len;
    }, 0);
  const trained = skipZeroAdvantage ? sequences.filter((s) => s.advantage !== 0) : sequences;
  return { generate: prefill + decoded, forward: forward(sequences), train: 3 * forward(trained) };
}

/** The best f32 matmul FLOP/s of the CPU through candle over square sizes 512 to 2048. */
export function matmulPeak(): number {
  return Math.max(...[512, 1024, 2048].map((n) => native().matmulPeakFlops(n, n >= 2048 ? 3 : 5)));
}
