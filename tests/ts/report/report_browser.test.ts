/**
 * `lgpo-run report` rendered in headless Chromium: every chart draws its series, the page makes
 * no network request, the table shows config differences and final eval scores, charts export as
 * SVG and PNG. Screenshots and exports go to test-artifacts/report/.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { smoothEma } from "../../../ts/src/report/client/chart_data.js";
import { formatNumber } from "../../../ts/src/report/client/svg_export.js";
import { renderReport } from "../../../ts/src/report/report.js";
import { artifactsDir, launchBrowser, skipBrowserTests } from "../browser.js";
import { type ChartInfo, chartsOf, expectChartsDrawn } from "./page_helpers.js";
import { writeSyntheticRun } from "./synthetic_run.js";

const skip = skipBrowserTests();
const tmp = mkdtempSync(join(tmpdir(), "lgpo-report-browser-"));
const artifacts = skip ? "" : artifactsDir("report");
let browser: Browser;

beforeAll(async () => {
  if (!skip) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** lgpo and grpo, three seeds each, plus a run with sparse keys and nulls that groups with nothing. */
function comparisonRuns(): string[] {
  const dirs: string[] = [];
  for (const objective of ["lgpo", "grpo"] as const) {
    for (const seed of [0, 1, 2]) {
      dirs.push(writeSyntheticRun(join(tmp, `${objective}-seed${seed}`), { objective, seed, steps: 120 }));
    }
  }
  dirs.push(
    writeSyntheticRun(join(tmp, "lgpo-lr2"), {
      steps: 90,
      klEvery: 30,
      nullGradSteps: [3, 4, 5],
      config: { optim: { lr: 2e-6, warmup_steps: 10, weight_decay: 0 } },
    }),
  );
  return dirs;
}

/** Opens a report file with every request that is not the file itself refused; returns the requests seen. */
async function openReport(path: string): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const url = pathToFileURL(path).href;
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.route("**/*", (route) => (route.request().url() === url ? route.continue() : route.abort()));
  await page.goto(url);
  await page.evaluate(() => (window as unknown as { lgpo: { ready: Promise<void> } }).lgpo.ready);
  return { page, requests, errors };
}

/** The numeric keys of the runs' metrics (what the report must chart). */
function metricKeys(dirs: string[]): Set<string> {
  const keys = new Set<string>();
  for (const dir of dirs) {
    for (const line of readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n")) {
      for (const key of Object.keys(JSON.parse(line))) keys.add(key);
    }
  }
  keys.delete("step");
  keys.delete("time");
  return keys;
}

describe.skipIf(skip)("lgpo-run report in headless Chromium", () => {
  const dirs = skip ? [] : comparisonRuns();
  const reportPath = join(tmp, "report.html");
  beforeAll(() => writeFileSync(reportPath, renderReport(dirs, { title: "lgpo vs grpo (synthetic)" })));

  it("draws every metric's series with no network access, and exports charts as SVG and PNG", async () => {
    const { page, requests, errors } = await openReport(reportPath);
    const charts = await expectChartsDrawn(page);
    expect(new Set(charts.map((c) => c.key))).toEqual(metricKeys(dirs));
    const reward = charts.find((c) => c.key === "reward/mean")!;
    expect(reward.series.map((s) => [s.label, s.role, s.points])).toEqual([
      ["lgpo (3 seeds)", "line", 120],
      ["lgpo (3 seeds) min", "min", 120],
      ["lgpo (3 seeds) max", "max", 120],
      ["grpo (3 seeds)", "line", 120],
      ["grpo (3 seeds) min", "min", 120],
      ["grpo (3 seeds) max", "max", 120],
      ["lgpo-lr2", "line", 90],
    ]);
    const kl = charts.find((c) => c.key === "kl/initial")!;
    expect(kl.series.find((s) => s.label === "lgpo-lr2")!.points).toBe(3);
    const grad = charts.find((c) => c.key === "grad_norm")!;
    expect(grad.series.find((s) => s.label === "lgpo-lr2")!.points).toBe(87);

    for (const [i, chart] of charts.entries()) {
      const svg = await page.evaluate(
        (k) => (window as unknown as { lgpo: { svg(i: number): string } }).lgpo.svg(k),
        i,
      );
      const parsed = await page.evaluate((text) => {
        const doc = new DOMParser().parseFromString(text, "image/svg+xml");
        return {
          error: doc.querySelector("parsererror") !== null,
          lines: doc.querySelectorAll("path[stroke]:not([stroke='none'])").length,
        };
      }, svg);
      expect(parsed.error, chart.key).toBe(false);
      expect(parsed.lines, chart.key).toBe(chart.series.filter((s) => s.role === "line").length);
      if (["reward/mean", "entropy/mean", "gate/kept_nonzero_adv_frac", "time/step_s"].includes(chart.key)) {
        writeFileSync(join(artifacts, `${chart.key.replace(/\W+/g, "_")}.svg`), svg);
      }
    }
    const png = await page.evaluate(() =>
      (window as unknown as { lgpo: { png(i: number): Promise<string> } }).lgpo.png(0),
    );
    const bytes = Buffer.from(png.split(",")[1]!, "base64");
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
    expect(bytes.readUInt32BE(16)).toBe(2 * 720);
    writeFileSync(join(artifacts, "reward_mean.png"), bytes);

    await page.screenshot({ path: join(artifacts, "report.png"), fullPage: true });
    expect(requests).toEqual([pathToFileURL(reportPath).href]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows config differences and final eval scores, with mean ± std per seed group", async () => {
    const { page } = await openReport(reportPath);
    const rows = await page.$$eval("table.runs tr", (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll("th, td"), (c) => c.textContent ?? "")),
    );
    const header = rows[0]!;
    expect(header).toEqual(expect.arrayContaining(["objective.name", "optim.lr", "seed", "final countdown/avg@8"]));
    expect(header).not.toContain("logging.dir");
    const column = (name: string) => header.indexOf(name);
    const row = (name: string) => rows.find((r) => r[0] === name)!;
    expect(row("grpo-seed1")[column("objective.name")]).toBe("grpo");
    expect(row("lgpo-lr2")[column("optim.lr")]).toBe("0.000002");
    const lastEval = JSON.parse(readFileSync(join(dirs[4]!, "metrics.jsonl"), "utf8").trim().split("\n").pop()!);
    expect(row("grpo-seed1")[column("final countdown/avg@8")]).toBe(
      formatNumber(Math.fround(lastEval["eval/countdown/avg@8"])),
    );
    expect(row("lgpo (3 seeds): mean ± std")[column("final countdown/avg@8")]).toMatch(/^[\d.]+ ± [\d.e-]+$/);
    await page.close();
  });

  it("draws every run on its own when the seed switch is off", async () => {
    const { page } = await openReport(reportPath);
    await page.click("#seed-bands");
    const reward = (await chartsOf(page)).find((c: ChartInfo) => c.key === "reward/mean")!;
    expect(reward.series.map((s) => s.label)).toEqual([
      "lgpo-seed0",
      "lgpo-seed1",
      "lgpo-seed2",
      "grpo-seed0",
      "grpo-seed1",
      "grpo-seed2",
      "lgpo-lr2",
    ]);
    await expectChartsDrawn(page, ["reward/mean", "eval/countdown/avg@8", "kl/initial"]);
    await page.close();
  });

  it("smooths every curve with the smoothing slider (an EMA per run)", async () => {
    const { page } = await openReport(reportPath);
    await page.click("#seed-bands");
    const lines = () =>
      page.evaluate(() => {
        const lgpo = (
          window as unknown as {
            lgpo: { page: { charts: { spec: { key: string }; model: { series: { values: (number | null)[] }[] } }[] } };
          }
        ).lgpo;
        return lgpo.page.charts.find((c) => c.spec.key === "reward/mean")!.model.series.map((s) => s.values);
      });
    const raw = await lines();
    await page.$eval("#smoothing", (input: HTMLInputElement) => {
      input.value = "0.9";
      input.dispatchEvent(new Event("input"));
    });
    const smoothed = await lines();
    expect(smoothed).toHaveLength(raw.length);
    raw.forEach((values, i) => {
      const present = values.filter((v): v is number => v !== null);
      const expected = smoothEma(present, 0.9);
      const got = smoothed[i]!.filter((v): v is number => v !== null);
      expect(got).toHaveLength(expected.length);
      for (const [j, v] of got.entries()) expect(v).toBeCloseTo(expected[j]!, 5);
      expect(got).not.toEqual(present);
    });
    await page.close();
  });

  it("draws the runs over wall-clock hours when asked", async () => {
    const { page } = await openReport(reportPath);
    await page.selectOption("#x-axis", "hours");
    const reward = (await chartsOf(page)).find((c: ChartInfo) => c.key === "reward/mean")!;
    // over hours, seed groups are drawn run by run: their clock times differ
    expect(reward.series.map((s) => [s.label, s.points])).toEqual([
      ["lgpo-seed0", 120],
      ["lgpo-seed1", 120],
      ["lgpo-seed2", 120],
      ["grpo-seed0", 120],
      ["grpo-seed1", 120],
      ["grpo-seed2", 120],
      ["lgpo-lr2", 90],
    ]);
    const lastHour = await page.evaluate(() => {
      const lgpo = (
        window as unknown as { lgpo: { page: { charts: { spec: { key: string }; model: { x: number[] } }[] } } }
      ).lgpo;
      const x = lgpo.page.charts.find((c) => c.spec.key === "reward/mean")!.model.x;
      return x[x.length - 1];
    });
    // the last x is the last step of the slowest run, in hours since that run's first line (a
    // step's time is that of its last line: the eval line when the step evaluates)
    const hours = dirs.map((dir) => {
      const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      return (lines[lines.length - 1].time - lines[0].time) / 3600;
    });
    expect(lastHour).toBeCloseTo(Math.max(...hours), 4);
    await expectChartsDrawn(page, ["reward/mean", "time/step_s"]);
    // the table keeps its seed-group rows
    expect(await page.$$eval("table.runs tr.group-row", (rows) => rows.length)).toBe(2);
    await page.close();
  });
});
