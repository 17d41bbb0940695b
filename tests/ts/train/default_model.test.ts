import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { afterAll, describe, expect, it } from "vitest";

import { readConfigFile, resolveConfig } from "../../../ts/src/config/load.js";
import { countdownKey, GeneratorSource } from "../../../ts/src/data/prompt_stream.js";
import { heldOutCountdownTasks } from "../../../ts/src/data/load.js";
import { solveCountdownSteps } from "../../../ts/src/data/countdown_solver.js";
import { renderPrompt } from "../../../ts/src/data/prompts.js";
import { readJsonlObjects } from "../../../ts/src/logging/jsonl.js";
import type { CountdownTask } from "../../../ts/src/data/tasks.js";
import { scoreCountdown } from "../../../ts/src/rewards/countdown.js";
import { Policy } from "../../../ts/src/sdk/policy.js";
import { Tokenizer } from "../../../ts/src/sdk/tokenizer.js";
import { REPO_ROOT } from "../data_files.js";
import { runCli } from "../cli_runner.js";

const MODEL = join(REPO_ROOT, "models/countdown-tiny");
const tmp = mkdtempSync(join(tmpdir(), "lgpo-default-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (args: string[]) => runCli(args, { timeoutMs: 240_000 });

const card = () => JSON.parse(readFileSync(join(MODEL, "lgpo.json"), "utf8"));

describe("the shipped model", () => {
  it("is a standard checkpoint of at most 10 MB with its build record", async () => {
    const files = readdirSync(MODEL).sort();
    expect(files).toEqual(
      expect.arrayContaining([
        "BUILD.json",
        "config.json",
        "generation_config.json",
        "lgpo.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
      ]),
    );
    const bytes = readdirSync(join(REPO_ROOT, "models"), { recursive: true })
      .map((f) => join(REPO_ROOT, "models", String(f)))
      .filter((p) => statSync(p).isFile())
      .reduce((sum, p) => sum + statSync(p).size, 0);
    expect(bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
    const build = JSON.parse(readFileSync(join(MODEL, "BUILD.json"), "utf8"));
    expect(build.held_out_greedy_success.after_sft).toBeGreaterThan(build.held_out_greedy_success.before_sft);
  });

  it("tokenizes Countdown prompts and solutions losslessly, with single-id chat tokens", async () => {
    const tok = Tokenizer.fromDir(MODEL);
    const { countdown: ranges, prompt } = card();
    const source = new GeneratorSource(50, 3, ranges, new Set());
    for (let i = 0; i < 50; i++) {
      const task = source.task(0, i);
      const [solution] = solveCountdownSteps(task.nums, task.target);
      const text = `${renderPrompt(task, prompt.template, undefined)} ${solution!.steps.join(", ")}</think>\n<answer>${solution!.expression}</answer>`;
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    for (const special of ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) {
      expect(tok.encode(special)).toHaveLength(1);
    }
    expect(tok.eosTokenId).toBe(tok.tokenToId("<|endoftext|>"));
  });

  it("`lgpo-run eval` reports its held-out greedy accuracy as JSON, as greedy decoding and the verifier count it", async () => {
    const r = await run(["eval", "--model", MODEL, "--task", "countdown", "--n", "20", "--greedy"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    // Recomputed through the SDK: greedy decoding of the 20 held-out prompts, scored by the verifier.
    const policy = await Policy.load(MODEL);
    try {
      const tasks = heldOutCountdownTasks("countdown", 20, card().countdown);
      const prompts = tasks.map((t) => renderPrompt(t, card().prompt.template, policy.tokenizer!));
      const outs = await policy.generate(prompts, { temperature: 0, maxNewTokens: card().generation.max_new_tokens });
      const solved = outs.filter((g, i) => scoreCountdown(g.text, tasks[i]! as CountdownTask).score >= 1).length;
      expect(out.accuracy).toBeCloseTo(solved / 20, 12);
    } finally {
      policy.dispose();
    }
    // The held-out tasks come from the model's own task card.
    const held = heldOutCountdownTasks("countdown", 20, card().countdown);
    expect(held.every((t) => t.nums.every((n: number) => n <= card().countdown.max_number))).toBe(true);
  });
});

describe("configs/default.yaml", () => {
  it("trains the shipped model on the task of its card, with the held-out tasks never drawn", async () => {
    const config = resolveConfig(readConfigFile(join(REPO_ROOT, "configs/default.yaml")));
    expect(config.model.path).toBe(MODEL);
    expect(config.data.generator).toMatchObject(card().countdown);
    expect(config.data.prompt.template).toBe(card().prompt.template);
    const held = new Set(heldOutCountdownTasks("countdown", 200, config.data.generator!).map(countdownKey));
    const source = new GeneratorSource(500, config.seed, config.data.generator!, held);
    for (let i = 0; i < 500; i++) expect(held.has(countdownKey(source.task(0, i)))).toBe(false);
  });

  it("runs a few LGPO steps and a few SFT steps on the shipped model", async () => {
    const rl = join(tmp, "rl");
    const over = [
      "--set",
      "trainer.steps=2",
      "--set",
      "rollout.prompts_per_step=2",
      "--set",
      "eval.benchmarks.0.limit=8",
      "--set",
      "checkpoint.every=0",
    ];
    const r = await run(["train", "--run-dir", rl, ...over]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readJsonlObjects(join(rl, "metrics.jsonl"));
    expect(lines.filter((l) => "reward/mean" in l)).toHaveLength(2);
    expect(lines.filter((l) => "eval/countdown/greedy" in l)).toHaveLength(2);
    expect(r.stdout + r.stderr).toMatch(/eval\/countdown\/greedy [\d.]+ -> [\d.]+/);

    const data = join(tmp, "sft.jsonl");
    writeFileSync(
      data,
      `${[
        { prompt: "Numbers: [2, 3, 4]. Target: 24.\n<think>", response: " 2 * 3 = 6, 6 * 4 = 24</think>" },
        { prompt: "Numbers: [1, 2, 3]. Target: 6.\n<think>", response: " 1 + 2 = 3, 3 + 3 = 6</think>" },
      ]
        .map((x) => JSON.stringify(x))
        .join("\n")}\n`,
    );
    const config = join(tmp, "sft.yaml");
    writeFileSync(
      config,
      YAML.stringify({
        extends: join(REPO_ROOT, "configs/default.yaml"),
        sft: { dataset: data, batch_size: 2 },
        trainer: { steps: 2 },
        eval: { at_start: false, at_end: false },
        checkpoint: { every: 0 },
      }),
    );
    const s = await run(["sft", "--config", config, "--run-dir", join(tmp, "sft")]);
    expect(s.code, s.stderr).toBe(0);
    const sft = readJsonlObjects(join(tmp, "sft", "metrics.jsonl")).filter((l) => "loss" in l);
    expect(sft).toHaveLength(2);
    expect(sft.every((l) => Number.isFinite(l.loss as number))).toBe(true);
  });
});
