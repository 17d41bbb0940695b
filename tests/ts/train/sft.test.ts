/**
 * Supervised fine-tuning: the loss is the cross-entropy of the response tokens (checked against
 * the scored log-probs), it learns, both example formats tokenize as documented, and the CLI
 * writes a run directory that resumes.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { resolveConfig } from "../../../ts/src/config/load.js";
import { loadSftExamples } from "../../../ts/src/data/sft_examples.js";
import { readJsonlObjects } from "../../../ts/src/logging/jsonl.js";
import { Policy } from "../../../ts/src/sdk/policy.js";
import { Tokenizer } from "../../../ts/src/sdk/tokenizer.js";
import { sft } from "../../../ts/src/trainer/sft.js";
import { runCli } from "../cli_runner.js";
import { tinyByteModel } from "./tiny_model.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-sft-"));
let model: string;
let data: string;
const pairs = [
  { prompt: "2+3=", response: "5" },
  { prompt: "7+1=", response: "8" },
  { prompt: "4+4=", response: "8" },
  { prompt: "9-2=", response: "7" },
];

beforeAll(async () => {
  model = await tinyByteModel(join(tmp, "model"), { hidden: 32, layers: 1 });
  data = join(tmp, "pairs.jsonl");
  writeFileSync(data, pairs.map((p) => JSON.stringify(p)).join("\n") + "\n");
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function config(over: Record<string, unknown> = {}) {
  return resolveConfig({
    model: { path: model },
    data: { task: "countdown", shuffle: false },
    sft: { dataset: data, batch_size: 4 },
    trainer: { steps: 1, optimizer: { lr: 0 } },
    logging: { progress: "none" },
    ...over,
  });
}

describe("sft", () => {
  it("minimises exactly the token-mean cross-entropy of the responses (eos included)", async () => {
    const dir = join(tmp, "ce");
    const summary = await sft(config(), { runDir: dir });
    const loss = summary.final!.loss!;
    const policy = await Policy.load(model);
    const tok = policy.tokenizer!;
    const scores = await policy.logprobs(
      pairs.map((p) => ({
        promptIds: tok.encode(p.prompt),
        responseIds: [...tok.encode(p.response), tok.eosTokenId!],
      })),
    );
    const all = scores.flatMap((s) => s.logprobs);
    expect(all).toHaveLength(8);
    expect(loss).toBeCloseTo(-all.reduce((a, b) => a + b, 0) / all.length, 5);
    expect(summary.final!.tokens).toBe(8);
    policy.dispose();
  });

  it("learns: the loss of a memorised set falls", async () => {
    const summary = await sft(config({ trainer: { steps: 30, optimizer: { lr: 0.01 } } }), {
      runDir: join(tmp, "learn"),
    });
    const lines = readJsonlObjects(join(summary.runDir, "metrics.jsonl"));
    expect(lines).toHaveLength(30);
    expect(lines.at(-1)!.loss as number).toBeLessThan((lines[0]!.loss as number) / 2);
    expect(lines.at(-1)!.epoch).toBe(30);
  });

  it("reads chat examples through the chat template, and names bad records", async () => {
    const tok = Tokenizer.fromDir(model);
    const chats = join(tmp, "chats.jsonl");
    writeFileSync(
      chats,
      [
        {
          messages: [
            { role: "user", content: "hi" },
            { role: "assistant", content: "yo" },
          ],
        },
        { prompt: "a", response: "b" },
        {
          messages: [
            { role: "user", content: "x" },
            { role: "user", content: "y" },
          ],
        },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    const opts = { format: "auto" as const, maxLength: 100, appendEos: true, badLines: "skip" as const, limit: null };
    const out = await loadSftExamples(chats, tok, opts);
    expect(out.examples[0]).toEqual({
      promptIds: tok.encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
      responseIds: [...tok.encode("yo"), 258],
    });
    expect(out.examples[1]).toEqual({ promptIds: tok.encode("a"), responseIds: [...tok.encode("b"), 258] });
    expect(out.skipped).toBe(1);
    await expect(loadSftExamples(chats, tok, { ...opts, badLines: "error" })).rejects.toThrow(
      /chats\.jsonl:3: the last message must be the assistant's target/,
    );
    const short = await loadSftExamples(chats, tok, { ...opts, maxLength: 5 });
    expect(short.tooLong).toBe(1);
  });

  it("runs from the CLI with a run directory, checkpoints and --resume", async () => {
    const file = join(tmp, "sft.yaml");
    writeFileSync(
      file,
      YAML.stringify({
        model: { path: model },
        data: { task: "countdown" },
        sft: { dataset: data, batch_size: 2 },
        trainer: { epochs: 2, optimizer: { lr: 0.01 } },
        checkpoint: { every: 2 },
      }),
    );
    const dir = join(tmp, "cli");
    const r = await runCli(["sft", "--config", file, "--run-dir", dir], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/step 4\/4 +loss/);
    expect(readJsonlObjects(join(dir, "metrics.jsonl")).map((l) => l.step)).toEqual([1, 2, 3, 4]);
    expect(existsSync(join(dir, "checkpoints/step-4/model.safetensors"))).toBe(true);
    const again = await runCli(["sft", "--resume", dir, "--set", "trainer.epochs=3"], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(readJsonlObjects(join(dir, "metrics.jsonl")).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const noData = await runCli(["sft", "--config", file, "--set", "sft.dataset=null"], { timeoutMs: 120_000 });
    expect(noData.code).toBe(2);
    expect(noData.stderr).toMatch(/sft\.dataset is required/);
  });
});
