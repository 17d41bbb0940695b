/**
 * The speed check: a report of two runs of 100,000 steps each (every metric a 100k-point series)
 * renders and draws every chart. Prints the timings and sizes recorded in docs/benchmarks.md and
 * writes them to test-artifacts/report/large.json; no timed assertion.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

import { renderReport } from "../../../ts/src/report/report.js";
import { readRunMetrics } from "../../../ts/src/report/run_dir.js";
import { artifactsDir, launchBrowser, skipBrowserTests } from "../browser.js";
import { expectChartsDrawn } from "./page_helpers.js";
import { writeLongRun } from "./synthetic_run.js";

const STEPS = 100_000;
const skip = skipBrowserTests();
const tmp = mkdtempSync(join(tmpdir(), "lgpo-report-large-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(skip)("a report of 100k-step runs", () => {
  it("draws every chart with 100k points per series", async () => {
    const dirs = [writeLongRun(join(tmp, "lgpo"), STEPS, "lgpo"), writeLongRun(join(tmp, "grpo"), STEPS, "grpo")];
    const start = performance.now();
    const cpu = process.cpuUsage();
    const html = renderReport(dirs);
    const renderMs = performance.now() - start;
    const { user, system } = process.cpuUsage(cpu);
    const path = join(tmp, "report.html");
    writeFileSync(path, html);

    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(pathToFileURL(path).href);
      const timings = await page.evaluate(async () => {
        const lgpo = (
          window as unknown as {
            lgpo: { ready: Promise<void>; page: { timings: { decodeMs: number; drawMs: number } } };
          }
        ).lgpo;
        await lgpo.ready;
        return { readyMs: performance.now(), ...lgpo.page.timings };
      });
      // One chart's redraw (paths rebuilt from its 2 x 100k points): median of 5.
      const redrawMs = await page.evaluate(async () => {
        const lgpo = (
          window as unknown as {
            lgpo: { page: { charts: { spec: { key: string }; plot: { data: unknown; setData(d: unknown): void } }[] } };
          }
        ).lgpo;
        const { plot } = lgpo.page.charts.find((c) => c.spec.key === "reward/mean")!;
        const times: number[] = [];
        for (let i = 0; i < 5; i++) {
          const start = performance.now();
          plot.setData(plot.data);
          await new Promise((resolve) => setTimeout(resolve, 0));
          times.push(performance.now() - start);
        }
        return times.sort((a, b) => a - b)[2]!;
      });
      const charts = await expectChartsDrawn(page, ["reward/mean", "entropy/mean", "time/step_s"]);
      const reward = charts.find((c) => c.key === "reward/mean")!;
      expect(reward.series.map((s) => s.points)).toEqual([STEPS, STEPS]);
      // The same numbers as JSON columns (full precision, null for no value), to compare sizes.
      const table = readRunMetrics(dirs[0]!);
      const jsonColumns = JSON.stringify(
        table.keys.map((k) => Array.from({ length: table.length }, (_, i) => table.value(k, i))),
      );
      const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(2));
      const result = {
        steps: STEPS,
        runs: dirs.length,
        charts: charts.length,
        htmlMiB: mib(html.length),
        metricsJsonlMiBPerRun: mib(statSync(join(dirs[0]!, "metrics.jsonl")).size),
        jsonColumnsMiBPerRun: mib(jsonColumns.length),
        encodedMiBPerRun: mib(table.encode().data.length),
        nodeRenderMs: Math.round(renderMs),
        nodeRenderCpuMs: Math.round((user + system) / 1000),
        pageReadyMs: Math.round(timings.readyMs),
        decodeMs: Math.round(timings.decodeMs),
        drawMs: Math.round(timings.drawMs),
        oneChartRedrawMs: Math.round(redrawMs),
      };
      console.log(`report of 2 x 100k steps: ${JSON.stringify(result)}`);
      writeFileSync(join(artifactsDir("report"), "large.json"), JSON.stringify(result, null, 2) + "\n");
      await page.screenshot({ path: join(artifactsDir("report"), "large.png") });
    } finally {
      await browser.close();
    }
  }, 300_000);
});
