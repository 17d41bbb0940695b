#!/usr/bin/env node
// Builds models/countdown-tiny from scratch: Countdown tasks from the seeded generator (the
// held-out eval tasks excluded), solution texts in TinyZero's think/answer format from the
// exhaustive solver, a byte-level BPE tokenizer trained on them, a small random Qwen2 model,
// `lgpo-run sft` on the texts, and the held-out greedy accuracy before and after.
//
//   node scripts/tiny-model/build.mjs [--out models/countdown-tiny] [--work .cache/tiny-model]
//                                     [--recipe scripts/tiny-model/recipe.yaml]
//
// Run `npm run build` first (it uses the compiled SDK). Every step is seeded: the same machine
// and thread count give the same model.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import YAML from "yaml";

import { countdownKey, GeneratorSource } from "../../ts/dist/data/prompt_stream.js";
import { heldOutCountdownTasks } from "../../ts/dist/data/load.js";
import { solveCountdownSteps } from "../../ts/dist/data/countdown_solver.js";
import { renderPrompt } from "../../ts/dist/data/prompts.js";
import { evaluateModel, initRandomCheckpoint, Tokenizer } from "../../ts/dist/index.js";
import { byteSymbols, trainBpe } from "./bpe.mjs";

const root = resolve(new URL("../..", import.meta.url).pathname);
const { values: args } = parseArgs({
  options: {
    out: { type: "string", default: join(root, "models/countdown-tiny") },
    work: { type: "string", default: join(root, ".cache/tiny-model") },
    recipe: { type: "string", default: join(root, "scripts/tiny-model/recipe.yaml") },
  },
});
const recipe = YAML.parse(readFileSync(resolve(args.recipe), "utf8"));
const work = resolve(args.work);
const log = (m) => process.stderr.write(`tiny-model: ${m}\n`);
const t0 = Date.now();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// 1. Tasks and solution texts: the prompt ends in "<think>" and the response continues it.
const ranges = recipe.task;
const template = recipe.prompt_template;
// The model's generation limit (lgpo.json), used by `lgpo-run eval` and the evals here.
const maxNewTokens = recipe.max_new_tokens ?? 64;
const heldOut = heldOutCountdownTasks("countdown", recipe.held_out, ranges);
const source = new GeneratorSource(recipe.sft_examples, recipe.seed, ranges, new Set(heldOut.map(countdownKey)));
const pairs = [];
for (let i = 0; i < recipe.sft_examples; i++) {
  const task = source.task(0, i);
  const [solution] = solveCountdownSteps(task.nums, task.target);
  pairs.push({
    prompt: renderPrompt(task, template, undefined),
    response: ` ${solution.steps.join(", ")}</think>\n<answer>${solution.expression}</answer>`,
  });
}
writeFileSync(join(work, "sft.jsonl"), pairs.map((p) => JSON.stringify(p)).join("\n") + "\n");
log(`${pairs.length} SFT examples (e.g. ${JSON.stringify(pairs[0].response)})`);

// 2. The tokenizer: byte-level BPE merges trained on the texts, plus the chat special tokens.
const { vocab, merges } = trainBpe(
  pairs.flatMap((p) => [p.prompt, p.response]),
  recipe.tokenizer.merges,
);
const specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const model = join(work, "init");
mkdirSync(model, { recursive: true });
writeFileSync(join(model, "vocab.json"), JSON.stringify(Object.fromEntries(vocab.map((t, i) => [t, i]))));
writeFileSync(join(model, "merges.txt"), `#version: 0.2\n${merges.join("\n")}\n`);
const added = Object.fromEntries(
  specials.map((t, i) => [
    String(vocab.length + i),
    { content: t, special: true, lstrip: false, rstrip: false, normalized: false, single_word: false },
  ]),
);
writeFileSync(
  join(model, "tokenizer_config.json"),
  JSON.stringify({ added_tokens_decoder: added, eos_token: "<|endoftext|>", pad_token: "<|endoftext|>" }, null, 2),
);
// One standard tokenizer.json (built by the core as transformers' Qwen2TokenizerFast builds it
// from vocab.json + merges.txt), next to tokenizer_config.json with the special tokens' names.
Tokenizer.fromDir(model).saveJson(join(model, "tokenizer.json"));
for (const f of ["vocab.json", "merges.txt"]) rmSync(join(model, f));
const eos = vocab.length; // <|endoftext|>
writeFileSync(join(model, "generation_config.json"), JSON.stringify({ eos_token_id: eos, pad_token_id: eos }, null, 2));
const tokens = vocab.length + specials.length;
// Padded to a multiple of `pad_vocab_to` rows, as Qwen2.5 pads its embedding table: ids past the
// tokenizer exist, and the sampler must never produce them.
const vocabSize = Math.ceil(tokens / recipe.pad_vocab_to) * recipe.pad_vocab_to;
log(
  `tokenizer: ${byteSymbols().length} bytes + ${merges.length} merges + ${specials.length} special = ${tokens} ids (embedding rows ${vocabSize})`,
);

// 3. A random Qwen2 model of the recipe's shape.
const config = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  ...recipe.model,
  vocab_size: vocabSize,
  bos_token_id: eos,
  eos_token_id: eos,
};
const files = ["tokenizer.json", "tokenizer_config.json", "generation_config.json"].map((f) => [
  f,
  readFileSync(join(model, f)),
]);
await initRandomCheckpoint(model, config, { seed: recipe.seed });
for (const [f, bytes] of files) writeFileSync(join(model, f), bytes);
writeFileSync(
  join(model, "lgpo.json"),
  JSON.stringify(
    { task: "countdown", countdown: ranges, prompt: { template }, generation: { max_new_tokens: maxNewTokens } },
    null,
    2,
  ),
);

// 4. SFT with the project's own trainer.
const sftConfig = join(work, "sft.yaml");
writeFileSync(
  sftConfig,
  YAML.stringify({
    model: { path: model },
    data: { task: "countdown", generator: ranges, prompt: { template } },
    sft: { dataset: join(work, "sft.jsonl"), batch_size: recipe.sft.batch_size, max_length: 1024 },
    trainer: {
      epochs: recipe.sft.epochs,
      micro_batch_size: recipe.sft.micro_batch_size,
      optimizer: { lr: recipe.sft.lr, weight_decay: 0.0 },
      schedule: { kind: "cosine", warmup_steps: recipe.sft.warmup_steps, min_ratio: 0.1 },
    },
    checkpoint: { every: 0, keep_last: 1 },
    logging: { progress: "auto" },
    seed: recipe.seed,
  }),
);
const runDir = join(work, "sft-run");
const sft = spawnSync(
  process.execPath,
  [join(root, "ts/bin/lgpo-run.js"), "sft", "--config", sftConfig, "--run-dir", runDir],
  {
    stdio: "inherit",
  },
);
if (sft.status !== 0) throw new Error(`lgpo-run sft failed (exit ${sft.status})`);
const trained = join(runDir, "checkpoints", readFileSync(join(runDir, "checkpoints/latest"), "utf8").trim());

// 5. Held-out greedy accuracy before and after, as `lgpo-run eval` computes it.
const evalAt = (dir) =>
  evaluateModel({
    model: dir,
    task: "countdown",
    limit: recipe.held_out,
    samples: 0,
    greedy: true,
    generator: ranges,
    template,
    maxNewTokens,
  });
const before = (await evalAt(model)).accuracy;
const after = (await evalAt(trained)).accuracy;
log(`held-out greedy success (${recipe.held_out} tasks): ${before.toFixed(3)} before SFT, ${after.toFixed(3)} after`);

/** Parameters of a safetensors file, from its header (a tied head is stored once). */
function parameterCount(path) {
  const bytes = readFileSync(path);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString("utf8"));
  return Object.entries(header)
    .filter(([k]) => k !== "__metadata__")
    .reduce((a, [, t]) => a + t.shape.reduce((x, y) => x * y, 1), 0);
}

// 6. The shipped files.
rmSync(args.out, { recursive: true, force: true });
mkdirSync(args.out, { recursive: true });
for (const f of [
  "config.json",
  "model.safetensors",
  "tokenizer.json",
  "tokenizer_config.json",
  "generation_config.json",
  "lgpo.json",
]) {
  copyFileSync(join(trained, f), join(args.out, f));
}
const card = {
  built_by: "scripts/tiny-model/build.mjs",
  recipe,
  tokens,
  parameters: parameterCount(join(args.out, "model.safetensors")),
  sft_steps: JSON.parse(readFileSync(join(runDir, "summary.json"), "utf8")).steps,
  held_out_greedy_success: { before_sft: before, after_sft: after, tasks: recipe.held_out },
  build_seconds: Math.round((Date.now() - t0) / 1000),
};
writeFileSync(join(args.out, "BUILD.json"), `${JSON.stringify(card, null, 2)}\n`);
log(`wrote ${args.out} in ${card.build_seconds} s`);
if (!existsSync(join(args.out, "model.safetensors"))) process.exit(1);
