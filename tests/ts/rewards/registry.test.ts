import { describe, expect, it } from "vitest";
import {
  rewards,
  rewardRegistry,
  RewardRegistry,
  defineReward,
  rewardMetrics,
  type RewardInput,
} from "../../../ts/src/rewards/index.js";

describe("reward registry", () => {
  it("has the built-ins and builds them by name", async () => {
    expect(rewardRegistry.names()).toEqual(expect.arrayContaining(["countdown", "math"]));
    const cd = rewards.get("countdown");
    const { results } = await cd.score([
      { response: "<answer>3 * 8</answer>", reference: { target: 24, nums: [8, 3] } },
    ]);
    expect(results[0]).toMatchObject({ score: 1, status: "ok", verdict: "correct" });
  });

  it("fails on an unknown name, listing the valid names", () => {
    expect(() => rewards.get("countdwn")).toThrow(/unknown reward "countdwn"; valid names: countdown, math/);
  });

  it("fails when a name is registered twice", () => {
    const reg = new RewardRegistry();
    reg.register("mine", () => defineReward("mine", () => 1));
    expect(() => reg.register("mine", () => defineReward("mine", () => 0))).toThrow(/already registered/);
    expect(() => rewards.register("math", () => defineReward("math", () => 0))).toThrow(/already registered/);
    expect(() => reg.register("", () => defineReward("x", () => 0))).toThrow(/invalid reward name/);
  });

  it("passes options to the factory", async () => {
    const cd = rewards.get("countdown", { formatScore: 0 });
    const { results } = await cd.score([
      { response: "<answer>3 + 8</answer>", reference: { target: 24, nums: [8, 3] } },
    ]);
    expect(results[0]!.score).toBe(0);
  });
});

describe("custom rewards", () => {
  const input = (response: string): RewardInput => ({ response, reference: {} });

  it("accepts sync and async functions, numbers or score objects", async () => {
    const sync = defineReward("len", ({ response }) => response.length);
    const asyncFn = defineReward("async", async ({ response }) => ({
      score: response === "yes" ? 1 : 0,
      verdict: response,
    }));
    expect((await sync.score([input("abc")])).results[0]).toMatchObject({ score: 3, status: "ok" });
    const { results, metrics } = await asyncFn.score([input("yes"), input("no")]);
    expect(results.map((r) => r.score)).toEqual([1, 0]);
    expect(metrics.verdicts).toEqual({ yes: 1, no: 1 });
    expect(metrics.meanScore).toBe(0.5);
  });

  it("scores a throwing reward 0 and counts it in the metrics", async () => {
    const flaky = defineReward("flaky", ({ response }) => {
      if (response === "boom") throw new Error("boom!");
      return 1;
    });
    const { results, metrics } = await flaky.score([input("ok"), input("boom"), input("ok")]);
    expect(results.map((r) => r.score)).toEqual([1, 0, 1]);
    expect(results[1]).toMatchObject({ status: "error", detail: "boom!" });
    expect(metrics).toMatchObject({ count: 3, errors: 1, timeouts: 0 });
  });

  it("times out slow async rewards per sample", async () => {
    const slow = defineReward(
      "slow",
      ({ response }) => new Promise<number>((r) => setTimeout(() => r(1), response === "slow" ? 5_000 : 1)),
      { timeoutMs: 100, failureScore: -1 },
    );
    const t0 = Date.now();
    const { results, metrics } = await slow.score([input("fast"), input("slow")]);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(results.map((r) => r.score)).toEqual([1, -1]);
    expect(results[1]!.status).toBe("timeout");
    expect(metrics.timeouts).toBe(1);
  });

  it("treats a non-finite score as an error", async () => {
    const nan = defineReward("nan", () => NaN);
    expect((await nan.score([input("x")])).results[0]).toMatchObject({ score: 0, status: "error" });
  });

  it("computes metrics", () => {
    expect(rewardMetrics([])).toMatchObject({ count: 0, meanScore: 0 });
  });
});

describe("built-in rewards", () => {
  it("countdown reports bad reference rows as errors", async () => {
    const { results, metrics } = await rewards
      .countdown()
      .score([{ response: "<answer>1</answer>", reference: { target: "24", nums: [1] } }]);
    expect(results[0]).toMatchObject({ score: 0, status: "error" });
    expect(results[0]!.detail).toMatch(/target/);
    expect(metrics.errors).toBe(1);
  });

  it("math scores a batch through the worker pool", async () => {
    const math = rewards.math({ size: 1, verify: { extract: { finalAnswer: true } } });
    try {
      const { results, metrics } = await math.score([
        { response: "so \\boxed{\\frac{1}{2}}", reference: { answer: "0.5" } },
        { response: "The final answer is $3$. I hope it is correct.", reference: { answer: "3" } },
        { response: "\\boxed{7}", reference: { answer: "8" } },
        { response: "no idea", reference: { answer: "8" } },
        { response: "\\boxed{(1,2), (3,4)}", reference: { answer: ["$(3,4)$", "$(1,2)$"] } },
        { response: "\\boxed{1}", reference: { answer: 1 } },
        { response: "\\boxed{1}", reference: {} },
      ]);
      expect(results.map((r) => r.score)).toEqual([1, 1, 0, 0, 1, 1, 0]);
      expect(results.map((r) => r.verdict)).toEqual([
        "correct",
        "correct",
        "wrong",
        "no_answer",
        "correct",
        "correct",
        undefined,
      ]);
      expect(metrics).toMatchObject({ count: 7, errors: 1 });
    } finally {
      await math.close();
    }
    await expect(math.score([])).rejects.toThrow(/closed/);
  });
});
