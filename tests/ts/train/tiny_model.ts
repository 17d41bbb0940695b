/**
 * A tiny random Qwen2 checkpoint with a byte-level tokenizer of 256 byte symbols and the chat
 * special tokens (no merges), in the vocab.json + merges.txt + tokenizer_config.json layout of the
 * Qwen2.5 releases: small enough to train a few RL steps in seconds on a CPU.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { initRandomCheckpoint } from "../../../ts/src/sdk/policy.js";

/** GPT-2's bytes_to_unicode: the printable stand-in of every byte in byte-level BPE vocabularies. */
export function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const symbols = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    symbols[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  }
  return symbols;
}

export const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Writes the tokenizer files (256 bytes + 3 special tokens = 259 ids) into `dir`. */
export function writeByteTokenizer(dir: string, options: { chatTemplate?: boolean } = {}): number {
  const vocab = Object.fromEntries(byteSymbols().map((s, i) => [s, i]));
  writeFileSync(join(dir, "vocab.json"), JSON.stringify(vocab));
  writeFileSync(join(dir, "merges.txt"), "#version: 0.2\n");
  const added = Object.fromEntries(
    SPECIAL_TOKENS.map((t, i) => [
      String(256 + i),
      { content: t, special: true, lstrip: false, rstrip: false, normalized: false, single_word: false },
    ]),
  );
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({
      added_tokens_decoder: added,
      eos_token: "<|im_end|>",
      pad_token: "<|endoftext|>",
      ...(options.chatTemplate === false ? {} : { chat_template: CHATML }),
    }),
  );
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [258, 256] }));
  return 256 + SPECIAL_TOKENS.length;
}

/** A random tiny Qwen2 model with the byte tokenizer in `dir`. */
export async function tinyByteModel(
  dir: string,
  options: { hidden?: number; layers?: number; seed?: number; vocabSize?: number } = {},
): Promise<string> {
  await initRandomCheckpoint(
    dir,
    {
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      vocab_size: options.vocabSize ?? 259,
      hidden_size: options.hidden ?? 32,
      intermediate_size: 2 * (options.hidden ?? 32),
      num_hidden_layers: options.layers ?? 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      max_position_embeddings: 2048,
      tie_word_embeddings: true,
    },
    { seed: options.seed ?? 1 },
  );
  writeByteTokenizer(dir);
  return dir;
}
