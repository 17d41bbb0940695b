/** The SDK's Policy against the golden fixture model (log-probs computed by transformers). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Policy, objectives } from "../../../ts/src/index.js";
import { FIXTURES, TINY_TIED, readSafetensors, row } from "../fixtures.js";

let policy: Policy;
const tmp = mkdtempSync(join(tmpdir(), "lgpo-sdk-"));

beforeAll(async () => {
  policy = await Policy.load(TINY_TIED, { seed: 1, train: { micro_batch_size: 2, optimizer: { lr: 1e-3 } } });
});
afterAll(() => {
  policy.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** The golden batch's rows as prompt/response sequences with transformers' log-probs. */
function goldenSequences() {
  const g = readSafetensors(join(FIXTURES, "tiny_tied.golden.safetensors"));
  const ids = g.input_ids!,
    mask = g.attention_mask!,
    logprobs = g.logprobs!;
  return Array.from({ length: ids.shape[0]! }, (_, r) => {
    const m = row(mask, r);
    const start = m.indexOf(1);
    const tokens = row(ids, r).filter((_, i) => m[i] === 1);
    const split = 2;
    return {
      promptIds: tokens.slice(0, split),
      responseIds: tokens.slice(split),
      expected: row(logprobs, r).slice(start + split - 1, start + tokens.length - 1),
    };
  });
}

describe("Policy", () => {
  it("scores like transformers", async () => {
    const seqs = goldenSequences();
    const scores = await policy.logprobs(seqs.map(({ promptIds, responseIds }) => ({ promptIds, responseIds })));
    scores.forEach((s, i) => {
      expect(s.logprobs).toHaveLength(seqs[i]!.expected.length);
      s.logprobs.forEach((lp, j) => {
        expect(Math.abs(lp - seqs[i]!.expected[j]!)).toBeLessThan(1e-4);
      });
      const mean = s.logprobs.reduce((a, b) => a + b, 0) / s.logprobs.length;
      expect(s.meanLogprob).toBeCloseTo(mean, 6);
      expect(s.entropy.every((h) => h >= 0)).toBe(true);
    });
  });

  it("generates from token ids, with sampling log-probs equal to the scored ones at temperature 1", async () => {
    const prompts = [
      [5, 17, 99],
      [42, 8],
    ];
    const out = await policy.generate(prompts, { maxNewTokens: 6, seed: 3 });
    expect(out.map((g) => g.finishReason)).toEqual(["length", "length"]);
    const scores = await policy.logprobs(out.map((g) => ({ promptIds: g.promptIds, responseIds: g.tokens })));
    out.forEach((g, i) => {
      g.logprobs.forEach((lp, j) => {
        expect(Math.abs(lp - scores[i]!.logprobs[j]!)).toBeLessThan(1e-4);
      });
    });
    const again = await policy.generate(prompts, { maxNewTokens: 6, seed: 3 });
    expect(again.map((g) => g.tokens)).toEqual(out.map((g) => g.tokens));
  });

  it("generates n samples per prompt, prompt-major, as the prompts repeated n times", async () => {
    const prompts = [
      [5, 17, 99],
      [42, 8],
    ];
    const options = { maxNewTokens: 5, seed: 6, temperature: 1.3 };
    const grouped = await policy.generate(prompts, { ...options, n: 3 });
    const repeated = await policy.generate(
      prompts.flatMap((p) => [p, p, p]),
      options,
    );
    expect(grouped).toEqual(repeated);
    expect(grouped.map((g) => g.promptIds)).toEqual(prompts.flatMap((p) => [p, p, p]));
    expect(new Set(grouped.slice(0, 3).map((g) => g.tokens.join())).size).toBeGreaterThan(1);
    for (const g of grouped) {
      expect(g.entropy).toHaveLength(g.tokens.length);
      expect(g.entropy.every((h) => h > 0 && h <= Math.log(128) + 1e-6)).toBe(true);
      expect(g.unknownTokens).toBe(0);
    }
    await expect(policy.generate(prompts, { n: 0 })).rejects.toThrow(/options.n/);
    await expect(policy.generate(prompts, { vocabLimit: 0 })).rejects.toThrow(/vocabLimit/);
  });

  it("never samples ids at or above vocabLimit", async () => {
    const out = await policy.generate([[1, 2, 3]], {
      n: 16,
      maxNewTokens: 8,
      vocabLimit: 10,
      temperature: 3,
      stopTokenIds: [],
    });
    const tokens = out.flatMap((g) => g.tokens);
    expect(tokens).toHaveLength(128);
    expect(tokens.every((t) => t < 10)).toBe(true);
  });

  it("does not block the event loop while it works", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await policy.generate(
      Array.from({ length: 8 }, () => [1, 2, 3]),
      { maxNewTokens: 60 },
    );
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(2);
  });

  it("trains, and saves a checkpoint that loads back", async () => {
    const seqs = goldenSequences().map(({ promptIds, responseIds }) => ({ promptIds, responseIds }));
    const minibatch = { sequences: seqs, advantages: [1, -1, 0] };
    const before = await policy.logprobs(seqs);
    const r1 = await policy.trainStep(minibatch, { name: "lgpo", gate: { tau: -0.15 } });
    const m2 = (await policy.trainStep(minibatch, { name: "pg" })).metrics;
    const m1 = r1.metrics;
    expect(m1.step).toBe(1);
    expect(m2.step).toBe(2);
    expect(policy.optimizerSteps).toBe(2);
    expect(m1.grad_norm).toBeGreaterThan(0);
    // Per-sequence outcomes: the gate statistic is the mean log-prob before the update; the
    // zero-advantage sequence is skipped (never evaluated).
    expect(r1.sequences).toHaveLength(3);
    r1.sequences.slice(0, 2).forEach((o, i) => {
      expect(o.meanLogprob).toBeCloseTo(before[i]!.meanLogprob, 4);
      expect(o.gated).toBe(before[i]!.meanLogprob > -0.15);
    });
    expect(r1.sequences[2]).toEqual({ gated: null, meanLogprob: null });
    const old = (await policy.logprobs(seqs)).map((s) => s.logprobs);
    const m3 = (await policy.trainStep({ ...minibatch, oldLogprobs: old }, { name: "grpo" })).metrics;
    expect(m3.ratio_min).toBeCloseTo(1, 5);

    const dir = join(tmp, "saved");
    await policy.save(dir);
    // Same settings as `policy`, so the forward is the same computation on the saved weights.
    const reloaded = await Policy.load(dir, { seed: 1, train: { micro_batch_size: 2, optimizer: { lr: 1e-3 } } });
    const [a, b] = [await policy.logprobs(seqs), await reloaded.logprobs(seqs)];
    expect(b).toEqual(a);

    // Weights + optimizer state restore training exactly: the next step matches bit for bit.
    await policy.saveOptimizer(join(dir, "optimizer.safetensors"));
    await reloaded.loadOptimizer(join(dir, "optimizer.safetensors"));
    expect(reloaded.optimizerSteps).toBe(policy.optimizerSteps);
    const next = { sequences: seqs, advantages: [0.5, -1, 1] };
    const [x, y] = [await policy.trainStep(next, { name: "pg" }), await reloaded.trainStep(next, { name: "pg" })];
    expect(y).toEqual(x);
    expect(await reloaded.logprobs(seqs)).toEqual(await policy.logprobs(seqs));
    await expect(reloaded.loadOptimizer(join(dir, "config.json"))).rejects.toThrow(/config\.json/);
    reloaded.dispose();
  });
});

describe("Policy.load options", () => {
  it("passes dtype and activation checkpointing to the core: same step with and without, bf16 close to f32", async () => {
    const seqs = goldenSequences().map(({ promptIds, responseIds }) => ({ promptIds, responseIds }));
    const minibatch = { sequences: seqs, advantages: [1, -1, 0.5] };
    const step = async (options: Parameters<typeof Policy.load>[1]) => {
      const p = await Policy.load(TINY_TIED, options);
      try {
        return (await p.trainStep(minibatch, { name: "pg" })).metrics;
      } finally {
        p.dispose();
      }
    };
    const full = await step({ train: { micro_batch_size: 2 } });
    // The pg loss from the policy's own log-probs before the step: -Σ A_i Σ_t logp / tokens.
    const scorer = await Policy.load(TINY_TIED, { train: { micro_batch_size: 2 } });
    const scores = await scorer.logprobs(seqs);
    scorer.dispose();
    const tokens = scores.reduce((n, s) => n + s.logprobs.length, 0);
    const byHand =
      -scores.reduce((a, s, i) => a + minibatch.advantages[i]! * s.logprobs.reduce((x, y) => x + y, 0), 0) / tokens;
    expect(full.loss).toBeCloseTo(byHand, 5);
    const checkpointed = await step({ train: { micro_batch_size: 2, activation_checkpointing: true } });
    expect(full.loss).toBeTypeOf("number");
    expect(checkpointed.loss).toBe(full.loss);
    expect(checkpointed.grad_norm).toBeCloseTo(full.grad_norm!, 5);
    const bf16 = await step({ dtype: "bf16", train: { micro_batch_size: 2 } });
    expect(bf16.loss).not.toBe(full.loss);
    expect(Math.abs(bf16.loss! - full.loss!)).toBeLessThan(2e-2 * Math.abs(full.loss!));
    await expect(Policy.load(TINY_TIED, { device: "cuda:0" })).rejects.toThrow(/device/);
  });
});

describe("objectives.evaluate", () => {
  it("gives the policy-gradient derivative -A / tokens for pg", () => {
    const r = objectives.evaluate({ name: "pg" }, { logprobs: [[-1, -2], [-0.5]], advantages: [2, -1] });
    expect(r.gradLogprobs[0]![0]).toBeCloseTo(-2 / 3, 6);
    expect(r.gradLogprobs[1]![0]).toBeCloseTo(1 / 3, 6);
    // By hand, token-mean over 3 tokens: -(2 * (-1 - 2) + (-1) * (-0.5)) / 3 = 5.5 / 3.
    expect(r.loss).toBeCloseTo(5.5 / 3, 6);
    expect(r.metrics.loss).toBeCloseTo(5.5 / 3, 6);
  });

  it("leaves forced tokens out of the gate's statistic", () => {
    const inputs = { logprobs: [[-0.001, -0.3, -0.001]], advantages: [1] };
    expect(objectives.evaluate({ name: "lgpo" }, inputs).metrics.gated_frac).toBe(1); // mean -0.1007
    const forced = objectives.evaluate({ name: "lgpo" }, { ...inputs, forcedTokens: [[true, false, true]] });
    expect(forced.metrics.gated_frac).toBe(0); // mean -0.3
    expect(() => objectives.evaluate({ name: "lgpo" }, { ...inputs, forcedTokens: [[true]] })).toThrow(
      /forcedTokens\[0\] has 1 values for 3 response tokens/,
    );
  });

  it("gates high-likelihood sequences for lgpo", () => {
    const r = objectives.evaluate({ name: "lgpo" }, { logprobs: [[-0.01, -0.02], [-3]], advantages: [1, 1] });
    expect(r.gradLogprobs[0]).toEqual([0, 0]);
    expect(r.metrics.gated_frac).toBe(0.5);
  });
});
