#!/usr/bin/env node
// lgpo against its Python peers, side by side in one run (`npm run bench:peer`). Each section
// times lgpo through the built TypeScript package and the peer through a script of this folder
// in .venv-peer (made by setup.sh), on the same checkpoint and inputs and with the same number
// of threads, then prints a markdown table and writes it with the raw JSON under
// benches/peer/results/ (git-ignored). Sections: generate (transformers' `generate`) and trl
// (TRL's GRPOTrainer against `lgpo-run bench step`, lgpo and grpo with old log-probs recomputed,
// on random prompts with the synthetic parity reward; TRL's prompts are words of one Qwen2.5
// token each, so their length matches). A section whose Python environment is missing is skipped
// with a message saying how to make it.
// Options: `node benches/peer/run.mjs --help`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "../..");
const python = join(root, ".venv-peer/bin/python");
const dist = join(root, "ts/dist/bench/index.js");

const options = {
  help: { type: "boolean", default: false },
  sections: { type: "string", default: "generate,trl" },
  shapes: { type: "string", default: "tiny,half" },
  rows: { type: "string", default: "16,64" },
  "prompt-len": { type: "string", default: "64" },
  "new-tokens": { type: "string", default: "64" },
  repeats: { type: "string", default: "3" },
  "step-prompts": { type: "string", default: "4" },
  "step-group-size": { type: "string", default: "4" },
  "step-prompt-len": { type: "string", default: "16" },
  "step-new-tokens": { type: "string", default: "16" },
  updates: { type: "string", default: "1,4" },
  tokenizer: {
    type: "string",
    default: join(process.env.LGPO_DATA_DIR ?? join(root, "../shared/data"), "qwen2.5/tokenizer"),
  },
};
// The usage line, from the options and their defaults.
const usage = `usage: node benches/peer/run.mjs ${Object.entries(options)
  .map(([name, o]) =>
    o.type === "boolean" ? `[--${name}]` : `[--${name} ${name === "tokenizer" ? "DIR" : o.default}]`,
  )
  .join(" ")}`;
let args;
try {
  args = parseArgs({ options }).values;
} catch (e) {
  process.stderr.write(`run.mjs: ${e.message}\n${usage}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const list = (s) => s.split(",").map((x) => x.trim());
const int = (s) => Number.parseInt(s, 10);

/** Runs a peer script in .venv-peer and returns its JSON report (its stdout). */
function peer(script, scriptArgs) {
  const r = spawnSync(python, [join(here, script), ...scriptArgs], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status ?? r.signal})`);
  return JSON.parse(r.stdout);
}

/** Generation throughput: `lgpo-run bench generate` against transformers' `generate`. */
async function generateSection(bench) {
  const rows = list(args.rows).map(int);
  const promptLen = int(args["prompt-len"]);
  const newTokens = int(args["new-tokens"]);
  const repeats = int(args.repeats);
  const table = [];
  const raw = [];
  for (const shape of list(args.shapes)) {
    process.stderr.write(`generate ${shape}: lgpo\n`);
    const lgpo = await bench.benchGenerate({ shape, rows, promptLen, newTokens, repeats });
    process.stderr.write(`generate ${shape}: transformers (${lgpo.threads} threads)\n`);
    const tmp = mkdtempSync(join(tmpdir(), "lgpo-peer-"));
    try {
      const prompts = join(tmp, "prompts.json");
      const sets = rows.map((r) => ({ rows: r, prompts: bench.benchPrompts(r, promptLen) }));
      writeFileSync(prompts, JSON.stringify({ new_tokens: newTokens, repeats, seed: 0, sets }));
      const hf = peer("hf_generate.py", [
        "--checkpoint",
        lgpo.checkpoint,
        "--prompts",
        prompts,
        "--threads",
        String(lgpo.threads),
      ]);
      lgpo.results.forEach((mine, i) => {
        const theirs = hf.results[i];
        table.push({
          shape,
          rows: mine.rows,
          lgpo: mine.tokensPerSecond,
          transformers: theirs.tokens_per_second,
          ratio: mine.tokensPerSecond.median / theirs.tokens_per_second.median,
        });
      });
      raw.push({ shape, lgpo, transformers: hf });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const fmt = (x) => Math.round(x).toLocaleString("en-US");
  const cell = (s) => `${fmt(s.median)} [${fmt(s.min)}, ${fmt(s.max)}]`;
  const markdown = [
    `Generation, sampling at temperature 1, ${promptLen}-token prompts, ${newTokens} new tokens per row, ` +
      `new tokens/s (median [min, max] of ${repeats} after a warm-up):`,
    "",
    "| shape | rows | lgpo | transformers | lgpo / transformers |",
    "|---|---|---|---|---|",
    ...table.map(
      (t) => `| ${t.shape} | ${t.rows} | ${cell(t.lgpo)} | ${cell(t.transformers)} | ${t.ratio.toFixed(2)} |`,
    ),
  ].join("\n");
  return { markdown, json: { settings: { rows, promptLen, newTokens, repeats }, table, raw } };
}

/** Seconds per RL step and per phase: `lgpo-run bench step` against TRL's GRPOTrainer. */
async function trlSection(bench) {
  const size = {
    prompts: int(args["step-prompts"]),
    groupSize: int(args["step-group-size"]),
    promptLen: int(args["step-prompt-len"]),
    newTokens: int(args["step-new-tokens"]),
  };
  const updates = list(args.updates).map(int);
  const repeats = int(args.repeats);
  if (!existsSync(join(args.tokenizer, "vocab.json"))) {
    throw new Error(
      `trl: no Qwen2.5 tokenizer at ${args.tokenizer} (TRL needs one for its text prompts); give --tokenizer DIR`,
    );
  }
  const table = [];
  const raw = [];
  for (const shape of list(args.shapes)) {
    const checkpoint = await bench.benchCheckpoint(shape);
    process.stderr.write(`trl ${shape}: lgpo\n`);
    const lgpo = await bench.benchStep(
      { shape, model: checkpoint, rollouts: "random", updates, repeats, size, peak: false },
      (p) =>
        process.stderr.write(
          `  ${bench.cellLabel(p.cell)} n_updates ${p.nUpdates} ${p.repeat === 0 ? "warm-up" : `repeat ${p.repeat}`}: ${p.stepS.toFixed(3)} s\n`,
        ),
    );
    process.stderr.write(`trl ${shape}: TRL (${lgpo.machine.threads} threads)\n`);
    const theirs = peer("trl_step.py", [
      "--checkpoint",
      checkpoint,
      "--tokenizer",
      args.tokenizer,
      "--threads",
      String(lgpo.machine.threads),
      "--prompts",
      String(size.prompts),
      "--group-size",
      String(size.groupSize),
      "--prompt-len",
      String(size.promptLen),
      "--new-tokens",
      String(size.newTokens),
      "--updates",
      updates.join(","),
      "--repeats",
      String(repeats),
    ]);
    for (const t of theirs.results) {
      for (const variant of ["none", "recompute"]) {
        const mine = lgpo.results.find(
          (r) => r.n_updates === t.n_updates && r.variant === variant && r.skip_zero_advantage,
        );
        table.push({ shape, n_updates: t.n_updates, lgpo: mine, trl: t, ratio: mine.step_s / t.step_s });
      }
    }
    raw.push({ shape, lgpo, trl: theirs });
  }
  const f = (x) => x.toFixed(3);
  const phases = (p) => `${f(p.generate_s)} / ${f(p.reward_s)} / ${f(p.old_logprob_s)} / ${f(p.update_s)}`;
  const markdown = [
    `RL step, B = ${size.prompts} prompts of ${size.promptLen} tokens, G = ${size.groupSize}, ${size.newTokens} tokens per ` +
      `completion (forced), f32, beta 0, temperature 1; seconds (median of ${repeats} after a warm-up); phases are ` +
      "generate / reward / old log-probs / update. lgpo's rows: objective lgpo, and grpo with old log-probs recomputed " +
      "(zero-advantage sequences skipped); TRL: GRPOTrainer (loss_type grpo, steps_per_generation = N_updates).",
    "",
    "| shape | N_updates | lgpo run | lgpo step s | lgpo phases | TRL step s | TRL phases | lgpo / TRL |",
    "|---|---|---|---|---|---|---|---|",
    ...table.map(
      (t) =>
        `| ${t.shape} | ${t.n_updates} | ${t.lgpo.objective === "lgpo" ? "lgpo" : "grpo/recompute"} | ${f(t.lgpo.step_s)} | ` +
        `${phases(t.lgpo.phases)} | ${f(t.trl.step_s)} | ${phases(t.trl.phases)} | ${t.ratio.toFixed(2)} |`,
    ),
  ].join("\n");
  return { markdown, json: { settings: { ...size, updates, repeats }, table, raw } };
}

const SECTIONS = { generate: generateSection, trl: trlSection };

async function main() {
  if (!existsSync(dist)) throw new Error("the TypeScript package is not built: run `npm run build` first");
  const bench = await import(dist);
  const date = new Date().toISOString();
  const header = `# lgpo vs peers, ${date}\n\nMachine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores.\n`;
  const parts = [header];
  const json = { date, cpu: cpus()[0]?.model, cores: cpus().length, sections: {} };
  for (const name of list(args.sections)) {
    const section = SECTIONS[name];
    if (section === undefined)
      throw new Error(`unknown section ${name}; sections: ${Object.keys(SECTIONS).join(", ")}`);
    if (!existsSync(python)) {
      // Without the pinned environment there is no peer to compare with: say so and go on.
      const note = `skipped: no ${python}; run benches/peer/setup.sh to make it (needs PyPI and ~5 GB of disk)`;
      process.stderr.write(`${name}: ${note}\n`);
      parts.push(`## ${name}\n\n${note}\n`);
      json.sections[name] = { skipped: note };
      continue;
    }
    const out = await section(bench);
    parts.push(`## ${name}\n\n${out.markdown}\n`);
    json.sections[name] = out.json;
  }
  const markdown = parts.join("\n");
  process.stdout.write(markdown);
  const dir = join(here, "results");
  mkdirSync(dir, { recursive: true });
  const stamp = date.replace(/[:.]/g, "-");
  writeFileSync(join(dir, `${stamp}.md`), markdown);
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`results: ${join(dir, stamp)}.{md,json}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench:peer: ${e.message}\n`);
  process.exit(1);
});
