#!/usr/bin/env node
// lgpo against its Python peers, side by side in one run (`npm run bench:peer`). Each section
// times lgpo through the built TypeScript package and the peer through a script of this folder
// in .venv-peer (made by setup.sh), on the same checkpoint and inputs and with the same number
// of threads, then prints a markdown table and writes it with the raw JSON under
// benches/peer/results/ (git-ignored). Sections: generate (transformers' `generate`); a trainer
// section (TRL) is added to SECTIONS the same way.
//
//   node benches/peer/run.mjs [--sections generate] [--shapes tiny,half] [--rows 16,64]
//                             [--prompt-len 64] [--new-tokens 64] [--repeats 3]
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

const { values: args } = parseArgs({
  options: {
    sections: { type: "string", default: "generate" },
    shapes: { type: "string", default: "tiny,half" },
    rows: { type: "string", default: "16,64" },
    "prompt-len": { type: "string", default: "64" },
    "new-tokens": { type: "string", default: "64" },
    repeats: { type: "string", default: "3" },
  },
});
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

const SECTIONS = { generate: generateSection };

async function main() {
  if (!existsSync(python)) throw new Error(`no ${python}: run benches/peer/setup.sh first`);
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
