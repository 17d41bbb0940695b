/** Reading run directories: JSONL tailing, the metrics table and its encoding, the page's series. */
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { decodeLines } from "../../../ts/src/report/client/decode.js";
import { RunSeries } from "../../../ts/src/report/client/run_series.js";
import { JsonlTail } from "../../../ts/src/report/jsonl_tail.js";
import { MetricTable } from "../../../ts/src/report/metric_table.js";
import { readRunMetrics } from "../../../ts/src/report/run_dir.js";
import { writeSyntheticRun } from "./synthetic_run.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-report-data-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function seriesOf(table: MetricTable, from = 0): Promise<RunSeries> {
  const run = new RunSeries();
  run.merge(await decodeLines(table.encode(from)));
  return run;
}

describe("JsonlTail", () => {
  it("returns whole lines only, keeps a torn line for later, and starts over when the file shrinks", () => {
    const path = join(tmp, "tail.jsonl");
    const tail = new JsonlTail(path);
    expect(tail.read()).toEqual({ lines: [], reset: false });
    writeFileSync(path, '{"step":1}\n{"step":2}\n{"st');
    expect(tail.read().lines).toEqual([
      { line: 1, value: { step: 1 } },
      { line: 2, value: { step: 2 } },
    ]);
    appendFileSync(path, 'ep":3,"x":"é"}\n\n');
    expect(tail.read().lines).toEqual([{ line: 3, value: { step: 3, x: "é" } }]);
    expect(tail.read().lines).toEqual([]);
    truncateSync(path, 0);
    writeFileSync(path, '{"step":9}\n');
    expect(tail.read()).toEqual({ lines: [{ line: 1, value: { step: 9 } }], reset: true });
    // replaced by rename (a new inode), even with more bytes than were read
    writeFileSync(`${path}.new`, '{"step":1}\n{"step":2}\n{"step":3}\n');
    renameSync(`${path}.new`, path);
    expect(tail.read()).toEqual({
      lines: [1, 2, 3].map((step) => ({ line: step, value: { step } })),
      reset: true,
    });
  });

  it("names the file and line of bad JSON and of a line that is not an object", () => {
    const path = join(tmp, "bad.jsonl");
    writeFileSync(path, '{"step":1}\n{"step":\n');
    expect(() => new JsonlTail(path).read()).toThrow(/bad\.jsonl:2: not valid JSON/);
    writeFileSync(path, '{"step":1}\n[1,2]\n');
    expect(() => new JsonlTail(path).read()).toThrow(/bad\.jsonl:2: expected a JSON object/);
  });
});

describe("MetricTable", () => {
  it("round-trips lines through the page encoding: missing and null are no value, never 0", async () => {
    const table = new MetricTable("m.jsonl");
    table.append([
      { line: 1, value: { step: 0, time: 1000, "eval/x/avg@8": 0.25 } },
      { line: 2, value: { step: 1, time: 1010.5, loss: 0.125, grad_norm: null } },
      { line: 3, value: { step: 2, time: 1021, loss: -1.5e-7, grad_norm: 3.3 } },
    ]);
    const encoded = table.encode();
    expect(encoded.keys).toEqual(["step", "time", "eval/x/avg@8", "loss", "grad_norm"]);
    expect(encoded.t0).toBe(1000);
    const run = await seriesOf(table);
    expect(run.steps).toEqual([0, 1, 2]);
    expect(run.columns.get("loss")).toEqual([null, 0.125, Math.fround(-1.5e-7)]);
    expect(run.columns.get("grad_norm")).toEqual([null, null, Math.fround(3.3)]);
    expect(run.columns.get("eval/x/avg@8")).toEqual([0.25, null, null]);
    // time is relative to the first line, so float32 keeps sub-second precision
    expect(run.columns.get("time")).toEqual([0, 10.5, 21]);
    const tail = await seriesOf(table, 2);
    expect(tail.steps).toEqual([2]);
    expect(tail.linesSeen).toBe(3);
  });

  it("rejects a line without an integer step or with a non-numeric value, naming file, line and key", () => {
    const table = new MetricTable("runs/a/metrics.jsonl");
    expect(() => table.append([{ line: 4, value: { time: 1 } }])).toThrow(
      /runs\/a\/metrics\.jsonl:4: "step" must be an integer/,
    );
    expect(() => table.append([{ line: 7, value: { step: 1, "reward/mean": "high" } }])).toThrow(
      /metrics\.jsonl:7: "reward\/mean" must be a finite number or null/,
    );
  });

  it("reads a synthetic run: eval lines share rows with the training lines of their step", async () => {
    const dir = writeSyntheticRun(join(tmp, "run"), { steps: 40, evalEvery: 20, nullGradSteps: [7] });
    const table = readRunMetrics(dir);
    expect(table.length).toBe(1 + 40 + 2);
    const run = await seriesOf(table);
    expect(run.steps).toEqual(Array.from({ length: 41 }, (_, i) => i));
    const evalSteps = run.steps.filter((s) => run.at("eval/countdown/avg@8", s) !== null);
    expect(evalSteps).toEqual([0, 20, 40]);
    expect(run.at("reward/mean", 20)).not.toBeNull();
    expect(run.at("grad_norm", 7)).toBeNull();
    expect(run.at("grad_norm", 8)).not.toBeNull();
    expect(run.at("kl/initial", 6)).toBeNull();
    expect(run.at("kl/initial", 5)).toBeCloseTo(0.005, 6);
    expect(run.last("eval/countdown/greedy")?.step).toBe(40);
  });
});

describe("RunSeries", () => {
  it("takes the newer values of a step logged again and places out-of-order steps in order", async () => {
    const table = new MetricTable("m");
    table.append([
      { line: 1, value: { step: 1, loss: 1 } },
      { line: 2, value: { step: 3, loss: 3 } },
      { line: 3, value: { step: 2, loss: 2 } },
      { line: 4, value: { step: 3, loss: 30, lr: 0.5 } },
    ]);
    const run = await seriesOf(table);
    expect(run.steps).toEqual([1, 2, 3]);
    expect(run.columns.get("loss")).toEqual([1, 2, 30]);
    expect(run.columns.get("lr")).toEqual([null, null, 0.5]);
  });

  it("drops what it held on a reset", async () => {
    const table = new MetricTable("m");
    table.append([{ line: 1, value: { step: 5, loss: 1 } }]);
    const run = await seriesOf(table);
    const fresh = new MetricTable("m");
    fresh.append([{ line: 1, value: { step: 1, other: 2 } }]);
    run.merge({ ...(await decodeLines(fresh.encode())), reset: true });
    expect(run.steps).toEqual([1]);
    expect([...run.columns.keys()]).toEqual(["other"]);
  });
});
