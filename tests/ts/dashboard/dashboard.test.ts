/**
 * `lgpo-run dashboard`: the server only reads the run directories it was given (no path traversal,
 * no file outside them, no writes, loopback Host only), follows metrics.jsonl incrementally, and
 * the page in headless Chromium shows appended lines and samples within seconds.
 */
import { request } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Dashboard, startDashboard } from "../../../ts/src/dashboard/server.js";
import { decodeLines } from "../../../ts/src/report/client/decode.js";
import type { EncodedLines } from "../../../ts/src/report/page_data.js";
import { mulberry32 } from "../../../ts/src/util/random.js";
import { artifactsDir, launchBrowser, skipBrowserTests } from "../browser.js";
import { chartsOf, expectChartsDrawn } from "../report/page_helpers.js";
import { appendLine, sampleLine, writeSyntheticRun } from "../report/synthetic_run.js";

const SECRET = "TOP-SECRET-NOT-A-RUN-FILE";
const tmp = mkdtempSync(join(tmpdir(), "lgpo-dashboard-"));
const runs = join(tmp, "runs");
let dashboard: Dashboard;

/** A raw HTTP request (the path is sent exactly as written, unlike fetch which normalises it). */
function raw(
  path: string,
  options: { method?: string; host?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: dashboard.port,
        path,
        method: options.method ?? "GET",
        headers: { host: options.host ?? `127.0.0.1:${dashboard.port}` },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(options.method === "POST" || options.method === "PUT" ? "{}" : undefined);
  });
}

async function metrics(run: number, from: number, generation: number) {
  const r = await raw(`/api/runs/${run}/metrics?from=${from}&generation=${generation}`);
  expect(r.status, r.body).toBe(200);
  return JSON.parse(r.body) as EncodedLines & { generation: number };
}

beforeAll(async () => {
  writeSyntheticRun(join(runs, "lgpo-seed0"), { steps: 60 });
  writeSyntheticRun(join(runs, "grpo-seed0"), { objective: "grpo", steps: 60 });
  writeSyntheticRun(join(runs, "linked"), { steps: 10 });
  writeFileSync(join(tmp, "secret.txt"), `${SECRET}\n`);
  writeFileSync(join(runs, "secret.txt"), `${SECRET}\n`);
  rmSync(join(runs, "linked", "samples.jsonl"));
  symlinkSync(join(tmp, "secret.txt"), join(runs, "linked", "samples.jsonl"));
  mkdirSync(join(runs, "empty"));
  dashboard = await startDashboard(
    ["lgpo-seed0", "grpo-seed0", "linked", "empty"].map((d) => join(runs, d)),
    { port: 0 },
  );
});

afterAll(async () => {
  await dashboard?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("dashboard server", () => {
  it("listens on 127.0.0.1 only", () => {
    // What the socket is bound to, from the server itself (not the URL it prints).
    expect(dashboard.address).toEqual({ address: "127.0.0.1", family: "IPv4", port: dashboard.port });
    expect(dashboard.url).toBe(`http://127.0.0.1:${dashboard.port}/`);
  });

  it("refuses path traversal and every path that is not one of its routes", async () => {
    const paths = [
      "/../../../../etc/passwd",
      "/..%2f..%2f..%2fetc%2fpasswd",
      "/%2e%2e/%2e%2e/secret.txt",
      "/api/runs/0/../../../secret.txt",
      "/api/runs/0/..%2f..%2fsecret.txt",
      "/api/runs/..%2f..%2fsecret.txt/metrics",
      "/api/runs/0/metrics/../../../../secret.txt",
      "/api/runs/4/metrics",
      "/api/runs/-1/metrics",
      "/api/runs/1e0/metrics",
      "/api/runs/0/config.yaml",
      "/api/runs/0/metrics.jsonl",
      "/secret.txt",
      "/runs/secret.txt",
      "//etc/passwd",
      "/index.html",
    ];
    for (const path of paths) {
      const r = await raw(path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain(SECRET);
      expect(r.body, path).not.toContain("root:");
    }
  });

  it("refuses a run file that resolves outside its run directory", async () => {
    const r = await raw("/api/runs/2/samples");
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/outside the run directory/);
    expect(r.body).not.toContain(SECRET);
  });

  it("answers GET and HEAD only, and only to a loopback Host", async () => {
    const before = readFileSync(join(runs, "lgpo-seed0", "metrics.jsonl"), "utf8");
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      expect((await raw("/api/runs/0/metrics", { method })).status, method).toBe(405);
    }
    expect(readFileSync(join(runs, "lgpo-seed0", "metrics.jsonl"), "utf8")).toBe(before);
    expect((await raw("/", { method: "HEAD" })).status).toBe(200);
    expect((await raw("/", { host: "evil.example" })).status).toBe(403);
    expect((await raw("/", { host: `evil.example:${dashboard.port}` })).status).toBe(403);
    expect((await raw("/", { host: `localhost:${dashboard.port}` })).status).toBe(200);
  });

  it("sends only the lines appended since the last request, and starts over when the file is replaced", async () => {
    const dir = join(runs, "grpo-seed0");
    const first = await metrics(1, 0, -1);
    expect(first.reset).toBe(true);
    expect(first.lines).toBe(1 + 60 + 3);
    expect(await metrics(1, first.lines, first.generation)).toMatchObject({ lines: 0, reset: false });
    appendLine(join(dir, "metrics.jsonl"), { step: 61, time: 1, "reward/mean": 0.5 });
    const next = await metrics(1, first.lines, first.generation);
    expect(next).toMatchObject({ from: first.lines, lines: 1, reset: false });
    expect((await decodeLines(next)).columns.get("reward/mean")![0]).toBe(0.5);
    writeFileSync(join(dir, "metrics.jsonl"), `${JSON.stringify({ step: 1, loss: 2 })}\n`);
    const replaced = await metrics(1, next.from + next.lines, next.generation);
    expect(replaced).toMatchObject({ from: 0, lines: 1, reset: true, generation: first.generation + 1 });
  });

  it("serves the latest samples, and empty answers for a run that has not started", async () => {
    const samples = JSON.parse((await raw("/api/runs/0/samples?limit=3")).body).samples;
    expect(samples.map((s: { step: number; sample: number }) => [s.step, s.sample])).toEqual([
      [60, 1],
      [60, 2],
      [60, 3],
    ]);
    expect(JSON.parse((await raw("/api/runs/3/samples")).body)).toEqual({ samples: [] });
    expect(await metrics(3, 0, 0)).toMatchObject({ lines: 0, keys: [] });
  });

  it("fails to start on a missing run directory, naming it", async () => {
    await expect(startDashboard([join(runs, "nope")], { port: 0 })).rejects.toThrow(/nope: no such directory/);
  });
});

const skip = skipBrowserTests();

describe.skipIf(skip)("dashboard in headless Chromium", () => {
  it("shows a line appended to metrics.jsonl, a new eval key and new samples within seconds", async () => {
    const dir = join(runs, "lgpo-seed0");
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(dashboard.url);
      await page.waitForFunction(() => {
        const lgpo = (window as unknown as { lgpo: { polls: number } }).lgpo;
        return lgpo.polls > 0;
      });
      const reward = (await chartsOf(page)).find((c) => c.key === "reward/mean")!;
      expect(reward.series[0]!.points).toBe(60);

      const rand = mulberry32(5);
      appendLine(join(dir, "metrics.jsonl"), { step: 61, time: 1_750_009_999, "reward/mean": 0.875, loss: 0.25 });
      appendLine(join(dir, "metrics.jsonl"), { step: 61, time: 1_750_010_000, "eval/aime/avg@8": 0.125 });
      appendLine(join(dir, "samples.jsonl"), { ...sampleLine(61, 0, rand), response: "fresh sample #61" });
      const seenAt = Date.now();
      await page.waitForFunction(
        () => {
          const lgpo = (window as unknown as { lgpo: { charts(): { key: string; series: { points: number }[] }[] } })
            .lgpo;
          const charts = lgpo.charts();
          return (
            charts.find((c) => c.key === "reward/mean")?.series[0]?.points === 61 &&
            charts.some((c) => c.key === "eval/aime/avg@8") &&
            document.body.textContent?.includes("fresh sample #61")
          );
        },
        undefined,
        { timeout: 5000 },
      );
      console.log(`dashboard showed the appended lines after ${Date.now() - seenAt} ms`);
      const value = await page.evaluate(() =>
        (
          window as unknown as { lgpo: { page: { runs: { at(k: string, s: number): number | null }[] } } }
        ).lgpo.page.runs[0]!.at("reward/mean", 61),
      );
      expect(value).toBe(0.875);
      await expectChartsDrawn(page, ["reward/mean", "eval/aime/avg@8"]);
      const status = await page.textContent(".status");
      expect(status).toMatch(/linked: .*outside the run directory/);
      expect(errors).toEqual([]);
      await page.screenshot({ path: join(artifactsDir("dashboard"), "dashboard.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
