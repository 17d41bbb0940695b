import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { dataFile } from "../data_files.js";
import { TINY_TIED } from "../fixtures.js";
import { qwenVocabModel } from "../sdk/tokenizer.test.js";
import { runCli } from "../cli_runner.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runCli(args, { timeoutMs: 120_000 });

/** The JSON objects of a JSONL output. */
function jsonLines(text: string) {
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

function file(name: string, lines: unknown[]): string {
  const path = join(tmp, name);
  writeFileSync(path, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return path;
}

describe("lgpo-run score", () => {
  it("writes log-probs, entropies and the mean log-prob of each line", async () => {
    const input = file("ids.jsonl", [
      { prompt_ids: [5, 6, 7], response_ids: [8, 9] },
      { prompt_ids: [1], response_ids: [2, 3, 4] },
    ]);
    const r = await run("score", "--model", TINY_TIED, "--input", input);
    expect(r.code, r.stderr).toBe(0);
    const rows = jsonLines(r.stdout);
    expect(rows.map((x) => x.logprobs.length)).toEqual([2, 3]);
    for (const x of rows) {
      const mean = x.logprobs.reduce((a: number, b: number) => a + b, 0) / x.logprobs.length;
      expect(x.mean_logprob).toBeCloseTo(mean, 6);
      expect(x.entropy).toHaveLength(x.logprobs.length);
    }
    const out = join(tmp, "scores.jsonl");
    expect((await run("score", "--model", TINY_TIED, "--input", input, "--out", out)).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(r.stdout);
  });

  it("exits 2 with a one-line message on bad arguments and input, writing nothing", async () => {
    const out = join(tmp, "never.jsonl");
    const bad = file("bad.jsonl", [{ prompt_ids: [1], response_ids: [2] }, "{not json"]);
    const cases = [
      await run("score", "--model", TINY_TIED, "--input", bad, "--out", out),
      await run(
        "score",
        "--model",
        TINY_TIED,
        "--input",
        file("field.jsonl", [{ prompt_ids: [1], response_ids: ["a"] }]),
        "--out",
        out,
      ),
      await run(
        "score",
        "--model",
        TINY_TIED,
        "--input",
        file("vocab.jsonl", [{ prompt_ids: [1], response_ids: [999] }]),
        "--out",
        out,
      ),
      await run(
        "score",
        "--model",
        join(tmp, "missing"),
        "--input",
        file("ok.jsonl", [{ prompt_ids: [1], response_ids: [2] }]),
        "--out",
        out,
      ),
      await run("score", "--model", TINY_TIED, "--input", join(tmp, "missing.jsonl")),
      await run("score", "--model", TINY_TIED),
      await run("score", "--model", TINY_TIED, "--input", bad, "--batch-size", "0"),
      await run("frobnicate"),
    ];
    const messages = [
      /bad\.jsonl:2: not valid JSON/,
      /field\.jsonl:1: field response_ids/,
      /999.*vocabulary/,
      /config\.json/,
      /missing\.jsonl/,
      /--input/,
      /--batch-size/,
      /unknown command/,
    ];
    cases.forEach((r, i) => {
      expect(r.code, `case ${i}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(messages[i]!);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    });
    expect(existsSync(out)).toBe(false);
  });

  it("computes in bf16 with --dtype bf16, within 2% of f32", async () => {
    const input = file("dtype.jsonl", [{ prompt_ids: [5, 6, 7], response_ids: [8, 9, 10] }]);
    const rows = [];
    for (const dtype of ["f32", "bf16"]) {
      const r = await run("score", "--model", TINY_TIED, "--input", input, "--dtype", dtype);
      expect(r.code, r.stderr).toBe(0);
      rows.push(JSON.parse(r.stdout.trim()));
    }
    const [f32, bf16] = rows;
    expect(bf16.logprobs).not.toEqual(f32.logprobs);
    bf16.logprobs.forEach((lp: number, i: number) => {
      expect(Math.abs(lp - f32.logprobs[i])).toBeLessThan(0.02 * Math.abs(f32.logprobs[i]) + 0.01);
    });
  });

  it("names the missing CUDA support or the bad dtype in one line", async () => {
    const input = file("cuda.jsonl", [{ prompt_ids: [1], response_ids: [2] }]);
    const cuda = await run("score", "--model", TINY_TIED, "--input", input, "--device", "cuda");
    expect(cuda.code).toBe(2);
    expect(cuda.stderr).toMatch(/device.*cuda/);
    expect(cuda.stderr.trim().split("\n")).toHaveLength(1);
    // cuda:N is a device name as the config schema spells it; anything else is refused by the option.
    const ordinal = await run("score", "--model", TINY_TIED, "--input", input, "--device", "cuda:1");
    expect(ordinal.code).toBe(2);
    expect(ordinal.stderr).toMatch(/device.*cuda:1/);
    const gpu = await run("score", "--model", TINY_TIED, "--input", input, "--device", "gpu");
    expect(gpu.code).toBe(2);
    expect(gpu.stderr).toMatch(/--device.*expected cpu, cuda or cuda:N, got "gpu"/);
    const dtype = await run("score", "--model", TINY_TIED, "--input", input, "--dtype", "f64");
    expect(dtype.code).toBe(2);
    expect(dtype.stderr).toMatch(/--dtype/);
  });

  it("documents every option in --help", async () => {
    const score = (await run("score", "--help")).stdout;
    for (const o of ["--model", "--input", "--out", "--batch-size", "--device", "--dtype"]) expect(score).toContain(o);
    const gen = (await run("generate", "--help")).stdout;
    for (const o of [
      "--prompt",
      "--input",
      "--n",
      "--temperature",
      "--top-p",
      "--top-k",
      "--max-tokens",
      "--seed",
      "--chat",
      "--dtype",
    ]) {
      expect(gen).toContain(o);
    }
    expect((await run("--help")).code).toBe(0);
  });
});

describe("lgpo-run generate", () => {
  it("samples n continuations per prompt of a JSONL file", async () => {
    const input = file("prompts.jsonl", [{ prompt_ids: [5, 6, 7] }, { prompt_ids: [9] }]);
    const r = await run(
      "generate",
      "--model",
      TINY_TIED,
      "--input",
      input,
      "--n",
      "3",
      "--max-tokens",
      "4",
      "--temperature",
      "2",
      "--seed",
      "4",
      "--vocab-limit",
      "100",
    );
    expect(r.code, r.stderr).toBe(0);
    const rows = jsonLines(r.stdout);
    for (const x of rows) {
      expect(x.entropy).toHaveLength(x.tokens.length);
      expect(x.tokens.every((t: number) => t < 100)).toBe(true);
    }
    expect(rows.map((x) => [x.prompt_index, x.sample])).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    expect(rows.every((x) => x.tokens.length === 4 && x.finish_reason === "length")).toBe(true);
    expect(new Set(rows.slice(0, 3).map((x) => x.tokens.join())).size).toBeGreaterThan(1);
    // One prompt per call: the same rows (each row's stream is its index in the whole output).
    const args = ["--n", "3", "--max-tokens", "4", "--temperature", "2", "--seed", "4", "--vocab-limit", "100"];
    const chunked = await run("generate", "--model", TINY_TIED, "--input", input, ...args, "--batch-size", "3");
    expect(chunked.code, chunked.stderr).toBe(0);
    expect(jsonLines(chunked.stdout).map((x) => x.tokens)).toEqual(rows.map((x) => x.tokens));
  });

  it("rejects conflicting and out-of-range options", async () => {
    expect((await run("generate", "--model", TINY_TIED)).code).toBe(2);
    expect((await run("generate", "--model", TINY_TIED, "--prompt", "x", "--vocab-limit", "0")).code).toBe(2);
    expect((await run("generate", "--model", TINY_TIED, "--prompt", "x", "--top-p", "2")).code).toBe(2);
    const r = await run("generate", "--model", TINY_TIED, "--prompt", "hello");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no tokenizer/);
  });

  const tokenizer = dataFile("qwen2.5/tokenizer/vocab.json");
  describe.skipIf(tokenizer.skip)("with a tokenizer", () => {
    let model: string;
    beforeAll(async () => {
      model = await qwenVocabModel(join(tmp, "qwen"));
    });

    it("generates from --prompt text with --chat and scores text lines", async () => {
      const r = await run("generate", "--model", model, "--prompt", "What is 2+2?", "--chat", "--max-tokens", "3");
      expect(r.code, r.stderr).toBe(0);
      const [row] = jsonLines(r.stdout);
      expect(row.tokens).toHaveLength(3);
      expect(typeof row.text).toBe("string");
      const s = await run(
        "score",
        "--model",
        model,
        "--input",
        file("text.jsonl", [{ prompt: "2+2=", response: "4" }]),
      );
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).logprobs).toHaveLength(1);
    });
  });
});

describe("lgpo-run verify", () => {
  it("prints one verdict per line and a summary", async () => {
    const input = file("cd.jsonl", [
      { response: "<answer>(1 + 2) * 3</answer>", target: 9, nums: [1, 2, 3] },
      { response: "<answer>1 + 2 + 3</answer>", target: 9, nums: [1, 2, 3] },
      { response: "no answer", target: 9, nums: [1, 2, 3] },
    ]);
    const r = await run("verify", "--task", "countdown", "--input", input);
    expect(r.code, r.stderr).toBe(0);
    expect(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).score),
    ).toEqual([1, 0.1, 0]);
    expect(r.stderr).toMatch(/3/);
    expect((await run("verify", "--task", "chess", "--input", input)).code).toBe(2);
  });
});

describe("lgpo-run bench generate", () => {
  it("reports tokens per second for each batch size, as JSON", async () => {
    const r = await run(
      "bench",
      "generate",
      "--shape",
      "tiny",
      "--rows",
      "1,2",
      "--prompt-len",
      "4",
      "--new-tokens",
      "3",
      "--repeats",
      "2",
      "--cache-dir",
      join(tmp, "bench-cache"),
      "--json",
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.tool).toBe("lgpo");
    expect(report.threads).toBeGreaterThan(0);
    expect(report.results.map((x: { rows: number }) => x.rows)).toEqual([1, 2]);
    for (const x of report.results) {
      expect(x.seconds).toHaveLength(2);
      const { median, min, max } = x.tokensPerSecond;
      expect(min).toBeLessThanOrEqual(median);
      expect(median).toBeLessThanOrEqual(max);
      expect(median).toBeGreaterThan(0);
    }
    expect((await run("bench", "generate", "--shape", "huge")).code).toBe(2);
    expect((await run("bench", "generate", "--rows", "0")).code).toBe(2);
  });
});
