import { afterAll, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { WorkerPool, resolveWorkerScript } from "../../../ts/src/rewards/pool.js";
import { MathVerifierPool } from "../../../ts/src/rewards/math/math_pool.js";

const fixture = fileURLToPath(new URL("./fixtures/test_worker.mjs", import.meta.url));
type Req = { op: string; value?: unknown };

describe("WorkerPool", () => {
  const pool = new WorkerPool<Req, unknown>(fixture, { size: 2, timeoutMs: 500, memoryMb: 64 });
  afterAll(() => pool.close());

  it("runs tasks and keeps order of results", async () => {
    const out = await Promise.all([1, 2, 3, 4, 5].map((v) => pool.run({ op: "echo", value: v })));
    expect(out.map((o) => o.ok && o.value)).toEqual([1, 2, 3, 4, 5]);
  });

  it("times out a hanging task, terminates its worker, and recovers", async () => {
    const t0 = Date.now();
    const [hung, fine] = await Promise.all([pool.run({ op: "hang" }), pool.run({ op: "echo", value: "ok" })]);
    expect(hung).toMatchObject({ ok: false, reason: "timeout" });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(fine).toMatchObject({ ok: true, value: "ok" });
    expect(await pool.run({ op: "echo", value: 7 })).toMatchObject({ ok: true, value: 7 });
    expect(pool.stats().timeouts).toBeGreaterThanOrEqual(1);
  });

  it("survives a worker that runs out of memory or exits", async () => {
    expect(await pool.run({ op: "oom" }, 20_000)).toMatchObject({ ok: false, reason: "error" });
    expect(await pool.run({ op: "exit" })).toMatchObject({ ok: false, reason: "error" });
    expect(await pool.run({ op: "throw" })).toMatchObject({ ok: false, reason: "error", message: "bad request" });
    expect(await pool.run({ op: "echo", value: 1 })).toMatchObject({ ok: true, value: 1 });
  });

  it("per-task timeout overrides the default", async () => {
    expect(await pool.run({ op: "hang" }, 50)).toMatchObject({ ok: false, reason: "timeout" });
  });

  it("does not count a worker's start-up against a task's timeout", async () => {
    // Loading takes 3x the timeout (as Compute Engine's import can on a busy machine).
    const slow = new WorkerPool<Req, unknown>(fixture, { size: 1, timeoutMs: 300, workerData: { loadMs: 900 } });
    try {
      expect(await slow.run({ op: "echo", value: "a" })).toMatchObject({ ok: true, value: "a" });
      expect(await slow.run({ op: "hang" })).toMatchObject({ ok: false, reason: "timeout" });
      expect(await slow.run({ op: "echo", value: "b" })).toMatchObject({ ok: true, value: "b" });
    } finally {
      await slow.close();
    }
  });

  it("fails tasks, instead of respawning forever, when the worker script cannot load", async () => {
    const broken = new WorkerPool<Req, unknown>(
      fileURLToPath(new URL("./fixtures/broken_worker.mjs", import.meta.url)),
      {
        size: 1,
      },
    );
    try {
      const outcomes = await Promise.all([broken.run({ op: "echo" }), broken.run({ op: "echo" })]);
      for (const o of outcomes) expect(o).toMatchObject({ ok: false, reason: "error" });
      expect(outcomes[0]).toMatchObject({ message: expect.stringMatching(/exited with code 1|cannot load/) });
    } finally {
      await broken.close();
    }
  });
});

describe("resolveWorkerScript", () => {
  it("maps a src/ TypeScript module to its compiled dist/ twin, or says how to build it", () => {
    const url = new URL("../../../ts/src/rewards/math/math_pool.ts", import.meta.url).href;
    let script: string | undefined;
    try {
      script = resolveWorkerScript(url, "worker.js");
    } catch (e) {
      expect(String(e)).toMatch(/npm run build:ts/);
      return;
    }
    expect(script).toMatch(/ts[\\/]dist[\\/]rewards[\\/]math[\\/]worker\.js$/);
  });

  it("fails with a build hint when the compiled worker is missing", () => {
    const url = new URL("../../../ts/src/rewards/nowhere/x.ts", import.meta.url).href;
    expect(() => resolveWorkerScript(url, "worker.js")).toThrow(/npm run build:ts/);
  });
});

describe("MathVerifierPool on hostile outputs", () => {
  const timeoutMs = 4000;
  const pool = new MathVerifierPool({ size: 2, timeoutMs });
  afterAll(() => pool.close());

  const hostile: Array<[string, string]> = [
    ["power tower", "\\boxed{10^{10^{10}}}"],
    ["tall tower", "\\boxed{2^{2^{2^{2^{2^{2}}}}}}"],
    ["huge exponent", "\\boxed{9^{999999999}}"],
    ["huge factorial", "\\boxed{100000!}"],
    ["10,000 nested braces", "\\boxed{" + "{".repeat(10_000) + "1" + "}".repeat(10_000) + "}"],
    ["5,000 nested parentheses", "\\boxed{" + "(".repeat(5000) + "1" + ")".repeat(5000) + "}"],
    ["nested square roots", "\\boxed{" + "\\sqrt{".repeat(300) + "2" + "}".repeat(300) + "}"],
    ["a million-digit number", "\\boxed{" + "9".repeat(1_000_000) + "}"],
    ["a 500-digit number", "\\boxed{" + "7".repeat(500) + "}"],
    ["many variables", "\\boxed{" + Array.from({ length: 200 }, (_, i) => `x_{${i}}`).join("+") + "}"],
    ["division by zero", "\\boxed{\\frac{1}{0}}"],
    ["indeterminate", "\\boxed{\\infty - \\infty}"],
    ["unclosed box", "\\boxed{1 + {2"],
    ["10 MB of text", "x".repeat(10_000_000) + " \\boxed{3}"],
    ["many boxes", "\\boxed{1} ".repeat(20_000)],
    ["many dollars", "$1$ ".repeat(50_000)],
  ];
  for (const [what, response] of hostile) {
    it(`${what}: not correct, within the timeout`, async () => {
      const t0 = Date.now();
      const r = await pool.verify("4", response, {
        extract: { finalAnswer: true, lastMath: true, plainNumbers: true },
      });
      expect(r.verdict).not.toBe("correct");
      expect(Date.now() - t0).toBeLessThan(timeoutMs + 3000);
    });
  }

  it("still verifies normally afterwards", async () => {
    expect((await pool.verify("\\frac{1}{2}", "\\boxed{0.5}")).verdict).toBe("correct");
  });

  it("turns a check that exceeds its timeout into a 'timeout' verdict", async () => {
    const slow = new MathVerifierPool({ size: 1, timeoutMs: 1 });
    try {
      const r = await slow.verify("1", "\\boxed{1}");
      expect(r.verdict).toBe("timeout");
      expect(slow.stats().timeouts).toBe(1);
    } finally {
      await slow.close();
    }
  });
});
