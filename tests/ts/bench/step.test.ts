import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { benchStep, STEP_CELLS, type StepBenchReport, stepFlops } from "../../../ts/src/bench/index.js";
import { stepWorkload } from "../../../ts/src/bench/step_workload.js";
import { resolveConfig } from "../../../ts/src/config/load.js";
import { Policy } from "../../../ts/src/sdk/policy.js";
import { tinyByteModel } from "../train/tiny_model.js";
import { runCli } from "../cli_runner.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-bench-step-"));
let model: string;
let report: StepBenchReport;
const SIZE = { prompts: 2, groupSize: 4, newTokens: 8 };

beforeAll(async () => {
  model = await tinyByteModel(join(tmp, "model"), { hidden: 32, layers: 1 });
  // Random prompts with the parity reward: advantages that are not all 0, so the old-log-prob
  // pass has sequences to score.
  report = await benchStep({
    shape: "tiny",
    model,
    updates: [2],
    repeats: 2,
    size: { ...SIZE, promptLen: 6 },
    rollouts: "random",
    peak: true,
  });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runCli(["bench", "step", ...args], { timeoutMs: 120_000 });

const find = (variant: string, skip = true) =>
  report.results.find((r) => r.variant === variant && r.skip_zero_advantage === skip)!;

describe("bench step", () => {
  it("measures every cell and ratio on identical rollouts", async () => {
    expect(report.rollout_hashes[2]).toHaveLength(2);
    expect(report.rollout_hashes[2]![0]).not.toBe(report.rollout_hashes[2]![1]); // each repeat its own
    expect(report.results).toHaveLength(STEP_CELLS.length);
    expect(report.ratios.map((r) => r.baseline).sort()).toEqual(
      ["recompute", "recompute", "rollout_logprobs", "rollout_logprobs", "skip_first", "skip_first"].sort(),
    );
    for (const r of report.ratios) {
      const lgpo = report.results.find(
        (x) => x.objective === "lgpo" && x.skip_zero_advantage === r.skip_zero_advantage,
      )!;
      const grpo = find(r.baseline, r.skip_zero_advantage);
      expect(r.lgpo_over_grpo).toBeCloseTo(lgpo.step_s / grpo.step_s, 10);
    }
  });

  it("runs the old-log-prob pass only where GRPO's variant needs it, on the sequences it needs", async () => {
    const all = find("recompute", false);
    expect(all.sequences).toBe(8);
    // Each repeat's share is measured on its own rollouts; the reported one is their mean.
    expect(all.zero_adv_frac_per_repeat).toHaveLength(2);
    expect(all.zero_adv_frac).toBeCloseTo(
      (all.zero_adv_frac_per_repeat[0]! + all.zero_adv_frac_per_repeat[1]!) / 2,
      12,
    );
    const nonzero = Math.round(8 * (1 - all.zero_adv_frac_per_repeat[0]!)); // the counts are the first repeat's
    expect(nonzero).toBeGreaterThan(0);
    // recompute scores every sequence (with skipping, the non-zero-advantage ones); skip_first
    // the second minibatch only (N_updates 2: one group of 4); sampling log-probs and LGPO none.
    expect(all.old_logprob_sequences).toBe(8);
    expect(find("recompute").old_logprob_sequences).toBe(nonzero);
    expect(find("skip_first", false).old_logprob_sequences).toBe(4);
    expect(find("skip_first").old_logprob_sequences).toBeLessThanOrEqual(4);
    for (const variant of ["none", "rollout_logprobs"]) {
      for (const skip of [true, false]) {
        expect(find(variant, skip).old_logprob_sequences).toBe(0);
        expect(find(variant, skip).phases.old_logprob_s).toBe(0);
      }
    }
    expect(all.phases.old_logprob_s).toBeGreaterThan(0);
    expect(find("skip_first", false).phases.old_logprob_s).toBeGreaterThan(0);
  });

  it("has phases that add up to the step time", async () => {
    for (const r of report.results) {
      for (const s of [r.spread.step_s.min, r.spread.step_s.max]) expect(s).toBeGreaterThan(0);
      const sum = Object.values(r.phases).reduce((a, b) => a + b, 0);
      // Medians of phases need not add up to the median step exactly; the gap is advantages and JS.
      expect(Math.abs(sum - r.step_s), JSON.stringify(r)).toBeLessThan(0.15 * r.step_s + 0.05);
      // When every advantage is 0, skipping leaves no training FLOPs.
      if (r.skip_zero_advantage && r.zero_adv_frac === 1) expect(r.mfu!.update).toBe(0);
      else expect(r.mfu!.update).toBeGreaterThan(0);
      expect(r.mfu!.step).toBeGreaterThan(0);
    }
    expect(report.machine.gemm_peak_flops).toBeGreaterThan(0);
  });

  it("gives every objective the same rollouts for the same repeat, others for another", async () => {
    const workload = await stepWorkload("tiny", { ...SIZE, promptLen: 0 }, { model, seed: 0 });
    try {
      const rollout = async (objective: string, repeat: number) => {
        const config = resolveConfig({
          ...workload.config,
          model: { path: model },
          objective: { name: objective },
          trainer: { steps: 1 },
        });
        const policy = await Policy.load(model, { seed: 0 });
        try {
          const out = await workload.rollout(policy, config, repeat);
          return out.sequences.map((s) => [s.promptIds, s.responseIds, s.samplingLogprobs]);
        } finally {
          policy.dispose();
        }
      };
      const lgpo = await rollout("lgpo", 0);
      expect(await rollout("grpo", 0)).toEqual(lgpo);
      expect(await rollout("grpo", 1)).not.toEqual(lgpo);
    } finally {
      await workload.close();
    }
  });

  it("counts model FLOPs: 2 per parameter per token forward (the head at response positions only), 3 times that to train", async () => {
    const seq = { promptIds: [1, 2], responseIds: [3], advantage: 1, samplingLogprobs: [-1] };
    const zero = { ...seq, advantage: 0 };
    const f = stepFlops(model, [seq, zero], true);
    // hidden 32, 1 layer, 259 ids, q/o 32x32, k/v 32x16, MLP 3x32x64; 3 tokens, 1 of them scored
    const layer = 2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 64;
    const head = 259 * 32;
    const one = 2 * layer * 3 + 2 * 1 * 32 * 9 + 2 * head * 1;
    expect(f.forward).toBe(2 * one);
    expect(f.train).toBe(3 * one);
    expect(stepFlops(model, [seq, zero], false).train).toBe(6 * one);
    // One distinct prompt of 2 tokens prefilled once; each row decodes its response token.
    const prefill = 2 * layer * 2 + 2 * 32 * 4;
    expect(f.generate).toBe(prefill + 2 * (one - prefill));
  });
});

describe("lgpo-run bench step", () => {
  it("prints the --json report with the issue's keys and a progress line per step", async () => {
    const r = await run(
      "--json",
      "--model",
      model,
      "--updates",
      "1",
      "--repeats",
      "1",
      "--prompts",
      "2",
      "--group-size",
      "2",
      "--new-tokens",
      "4",
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(expect.arrayContaining(["machine", "results", "ratios"]));
    for (const x of out.results) {
      expect(Object.keys(x)).toEqual(
        expect.arrayContaining(["shape", "objective", "variant", "n_updates", "step_s", "phases", "spread"]),
      );
      expect(Object.keys(x.phases).sort()).toEqual(["generate_s", "old_logprob_s", "reward_s", "update_s"]);
      expect(x.shape).toBe("tiny");
    }
    for (const x of out.ratios) {
      expect(Object.keys(x)).toEqual(expect.arrayContaining(["shape", "n_updates", "baseline", "lgpo_over_grpo"]));
      expect(["recompute", "skip_first", "rollout_logprobs"]).toContain(x.baseline);
    }
    expect(
      r.stderr
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("bench step tiny n_updates 1")),
    ).toHaveLength(2 + STEP_CELLS.length);
  });

  it("exits 2 naming the bad flag", async () => {
    for (const [args, flag] of [
      [["--updates", "0"], "--updates"],
      [["--updates", "1,x"], "--updates"],
      [["--repeats", "0"], "--repeats"],
      [["--shape", "huge"], "--shape"],
      [["--prompts", "-1"], "--prompts"],
    ] as const) {
      const r = await run(...args, "--model", model);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(flag);
    }
  });

  it("names the checkpoint it cannot find", async () => {
    const missing = join(tmp, "no-such-model");
    const r = await run("--model", missing, "--updates", "1", "--repeats", "1");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toContain("--model");
  });
});
