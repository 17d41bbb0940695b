/**
 * Data-parallel training with 2 MPI ranks on the CPU (docs/distributed.md): the job takes the
 * single process's steps on the same batch (each rank generates and trains on half of every
 * minibatch), a failing rank ends the job naming it, and a checkpoint resumes with another number
 * of ranks.
 *
 * Tolerances: the sampled tokens, rewards and advantages are equal exactly (each sample draws its
 * own random stream, wherever it is generated); what differs is float summation order: GEMMs over
 * half the rows, per-rank partial sums added by the all-reduce, and it grows a little with each
 * step. Relative 1e-5 on the step metrics, as the core's lgpo-dp-check (measured up to 2e-6, on
 * the KL estimates, which are small differences of log-probs; KL to the initial policy starts at
 * ~1e-13 and is compared with an absolute 1e-9 besides), and 1e-4 of the weights' change over the
 * run (the core's bound).
 *
 * Needs Open MPI's mpirun and an addon built with MPI (`npm test` builds it so where mpicc is
 * installed, and .ci/run installs Open MPI); without them the tests skip, except under CI=true.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { readJsonlObjects } from "../../../ts/src/logging/jsonl.js";
import { native } from "../../../ts/src/sdk/native.js";
import { runCli } from "../cli_runner.js";
import { REPO_ROOT } from "../data_files.js";
import { readSafetensors } from "../fixtures.js";

const hasMpirun = spawnSync("mpirun", ["--version"], { stdio: "ignore" }).status === 0;
const ready = hasMpirun && native().mpiBuilt();
if (!ready && process.env.CI !== "true") {
  process.stderr.write(
    `SKIPPED distributed.test.ts: ${hasMpirun ? "the addon was built without MPI (LGPO_CARGO_FEATURES=mpi npm run build)" : "mpirun is not installed"}\n`,
  );
}

const tmp = mkdtempSync(join(tmpdir(), "lgpo-distributed-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Open MPI refuses root unless told; CI containers run as root.
const ENV = { OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1", RAYON_NUM_THREADS: "1" };
/** The built-in default (tiny policy, LGPO, quantile gate, N_updates 2), short. */
const SHORT = [
  // Constant: a resumed run with more steps keeps the rate a cosine would stretch.
  "--set",
  "trainer.schedule.kind=constant",
  "--set",
  "eval.benchmarks=[{name: countdown, task: countdown, limit: 12, samples: 2}]",
  "--set",
  "eval.every=2",
  "--set",
  "trainer.kl_to_initial_every=1",
  "--set",
  "logging.progress=none",
  "--set",
  "checkpoint.every=2",
];

function train(dir: string, args: string[], env: Record<string, string> = {}) {
  return runCli(["train", ...SHORT, ...args, "--run-dir", dir], { timeoutMs: 300_000, env: { ...ENV, ...env } });
}

type Line = Record<string, number>;
const untimed = (dir: string) =>
  readJsonlObjects(join(dir, "metrics.jsonl")).map((l) =>
    Object.fromEntries(Object.entries(l).filter(([k]) => k !== "time" && !k.startsWith("time/"))),
  ) as Line[];

function expectSameMetrics(a: Line[], b: Line[]) {
  expect(b.map((l) => Object.keys(l).sort())).toEqual(a.map((l) => Object.keys(l).sort()));
  a.forEach((line, i) => {
    for (const [k, x] of Object.entries(line)) {
      const y = b[i]![k]!;
      const tol = k === "kl/initial" ? 1e-9 + 1e-5 * Math.abs(x) : 1e-5 * Math.max(Math.abs(x), 1e-3);
      expect(Math.abs(x - y), `line ${i} ${k}: ${x} vs ${y}`).toBeLessThanOrEqual(tol);
    }
  });
}

/** Largest |a - b| over the weights, relative to the largest change from `initial`. */
function weightGap(a: string, b: string, initial: string): number {
  const [wa, wb, w0] = [a, b, initial].map((d) => readSafetensors(join(d, "model.safetensors")));
  let gap = 0;
  let change = 0;
  for (const [name, t] of Object.entries(wa!)) {
    const u = wb![name]!.data;
    const v = w0![name]!.data;
    t.data.forEach((x, i) => {
      gap = Math.max(gap, Math.abs(x - u[i]!));
      change = Math.max(change, Math.abs(x - v[i]!));
    });
  }
  expect(change).toBeGreaterThan(0);
  return gap / change;
}

const TINY = join(REPO_ROOT, "models/countdown-tiny");

describe.skipIf(!ready)("2 MPI ranks (lgpo-run train --nproc 2)", () => {
  for (const [name, args] of [
    ["the tiny default (LGPO, quantile gate)", []],
    ["GRPO at N_updates 2", ["--config", join(REPO_ROOT, "configs/cpu/countdown/grpo.yaml")]],
  ] as const) {
    it(`take the single process's steps: ${name}`, async () => {
      const one = join(tmp, `${args.length}-one`);
      const two = join(tmp, `${args.length}-two`);
      const steps = ["--set", "trainer.steps=3", ...args];
      const a = await train(one, steps);
      expect(a.code, a.stderr).toBe(0);
      const b = await train(two, ["--nproc", "2", ...steps]);
      expect(b.code, b.stderr).toBe(0);
      const [la, lb] = [untimed(one), untimed(two)];
      expect(la.filter((l) => "loss" in l).map((l) => l.step)).toEqual([1, 2, 3]);
      // Sampled tokens are the same, so what depends on them alone is equal exactly.
      for (const k of ["reward/mean", "reward/success_frac", "response_length/mean", "gate/zero_adv_frac"]) {
        expect(
          lb.map((l) => l[k]),
          k,
        ).toEqual(la.map((l) => l[k]));
      }
      expectSameMetrics(la, lb);
      const last = (d: string) => join(d, "checkpoints/step-3");
      expect(weightGap(last(one), last(two), TINY)).toBeLessThan(1e-4);
    }, 300_000);
  }

  it("end the job when a rank dies, naming it", async () => {
    const r = await train(join(tmp, "killed"), ["--nproc", "2", "--set", "trainer.steps=3"], {
      LGPO_FAULT: "rank-kill@1:2",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/process rank 1 .*exited on signal 9/);
    expect(r.stderr).toMatch(/the 2-rank job failed/);
  }, 300_000);

  it("end the job when a rank hangs, within the timeout", async () => {
    const t0 = performance.now();
    const r = await train(join(tmp, "hung"), ["--nproc", "2", "--set", "trainer.steps=3"], {
      LGPO_FAULT: "rank-hang@1:2",
      LGPO_DIST_TIMEOUT_S: "5",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/lgpo rank 0 of 2: waited 5 s for the other ranks at .*; rank 1 died or hung/);
    expect(performance.now() - t0).toBeLessThan(120_000);
  }, 300_000);

  it("resume a 2-rank checkpoint with 1 rank, and a 1-rank one with 2, as an unbroken run", async () => {
    const whole = join(tmp, "whole");
    expect((await train(whole, ["--set", "trainer.steps=4"])).code).toBe(0);
    const twoThenOne = join(tmp, "two-then-one");
    expect((await train(twoThenOne, ["--nproc", "2", "--set", "trainer.steps=2"])).code).toBe(0);
    const resumed = await runCli(["train", "--resume", twoThenOne, "--set", "trainer.steps=4"], {
      timeoutMs: 300_000,
      env: ENV,
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameMetrics(untimed(whole), untimed(twoThenOne));
    const oneThenTwo = join(tmp, "one-then-two");
    expect((await train(oneThenTwo, ["--set", "trainer.steps=2"])).code).toBe(0);
    const again = await runCli(["train", "--nproc", "2", "--resume", oneThenTwo, "--set", "trainer.steps=4"], {
      timeoutMs: 300_000,
      env: ENV,
    });
    expect(again.code, again.stderr).toBe(0);
    expectSameMetrics(untimed(whole), untimed(oneThenTwo));
  }, 600_000);
});
