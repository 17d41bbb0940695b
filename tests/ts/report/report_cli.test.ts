/** `lgpo-run report` and `lgpo-run dashboard` end to end, through a child process. */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { writeSyntheticRun } from "./synthetic_run.js";
import { LGPO_RUN as BIN, runCli } from "../cli_runner.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-report-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => runCli(args, { timeoutMs: 60_000 });

describe("lgpo-run report", () => {
  const a = writeSyntheticRun(join(tmp, "lgpo-seed0"), { steps: 20, evalEvery: 10 });
  const b = writeSyntheticRun(join(tmp, "grpo-seed0"), { objective: "grpo", steps: 20, evalEvery: 10 });

  it("writes one HTML file holding the page script, uPlot and both runs' data", async () => {
    const out = join(tmp, "report.html");
    const r = await run("report", a, b, "--out", out, "--title", "lgpo vs grpo");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote .*report\.html \(\d+ KiB\)/);
    const html = readFileSync(out, "utf8");
    expect(html).toContain("<title>lgpo vs grpo</title>");
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    const data = JSON.parse(html.match(/<script id="lgpo-data" type="application\/json">(.*?)<\/script>/s)![1]!);
    expect(data.runs.map((r: { name: string }) => r.name)).toEqual(["lgpo-seed0", "grpo-seed0"]);
    expect(data.metrics).toHaveLength(2);
    expect(data.seedBands).toBe(true);
    // nothing loaded from elsewhere (the browser test also checks that the page makes no request)
    expect(/<script[^>]+src=|<link[^>]+href=|url\(\s*['"]?https?:/.test(html)).toBe(false);
    // Without --out the report goes into the first run directory, not the current one.
    const inRun = await runCli(["report", b, a], { cwd: tmp, timeoutMs: 60_000 });
    expect(inRun.code, inRun.stderr).toBe(0);
    expect(existsSync(join(b, "report.html"))).toBe(true);
    expect(readdirSync(tmp).filter((n) => n.startsWith("report.html"))).toEqual(["report.html"]); // only --out's
    const flat = await run("report", a, "--out", join(tmp, "flat.html"), "--no-seed-bands");
    expect(flat.code, flat.stderr).toBe(0);
    expect(readFileSync(join(tmp, "flat.html"), "utf8")).toContain('"seedBands":false');
  });

  it("exits 2 with a one-line message naming the bad directory, file or line, writing nothing", async () => {
    const out = join(tmp, "never.html");
    const noMetrics = join(tmp, "no-metrics");
    mkdirSync(noMetrics, { recursive: true });
    const badLine = writeSyntheticRun(join(tmp, "bad-line"), { steps: 3 });
    writeFileSync(join(badLine, "metrics.jsonl"), '{"step":0}\n{"step":1,"loss":"nan"}\n');
    const badYaml = writeSyntheticRun(join(tmp, "bad-yaml"), { steps: 3 });
    writeFileSync(join(badYaml, "config.yaml"), "a: [1, 2\n");
    const cases: [string[], RegExp][] = [
      [[join(tmp, "missing")], /missing: no such directory/],
      [[noMetrics], /no-metrics\/metrics\.jsonl: no such file/],
      [[badLine], /bad-line\/metrics\.jsonl:2: "loss" must be a finite number or null/],
      [[badYaml], /bad-yaml\/config\.yaml: not valid YAML/],
      [[], /missing required argument/],
    ];
    for (const [args, message] of cases) {
      const r = await run("report", ...args, "--out", out);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(existsSync(out)).toBe(false);
  });

  it("documents every option in --help", async () => {
    const help = (await run("report", "--help")).stdout;
    for (const o of ["--out", "--no-seed-bands", "--title", "run_dir"]) expect(help).toContain(o);
    const dash = (await run("dashboard", "--help")).stdout;
    for (const o of ["--port", "--no-seed-bands", "--title", "127.0.0.1"]) expect(dash).toContain(o);
  });
});

describe("lgpo-run dashboard", () => {
  it("serves on 127.0.0.1 until SIGTERM, then exits 0", async () => {
    const dir = writeSyntheticRun(join(tmp, "live"), { steps: 5 });
    const child = spawn(process.execPath, [BIN, "dashboard", dir, "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (c) => {
        stderr += c;
        const m = stderr.match(/at (http:\/\/127\.0\.0\.1:\d+\/)/);
        if (m) resolve(m[1]!);
      });
      child.on("exit", () => reject(new Error(`exited early: ${stderr}`)));
    });
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await page.text()).toContain('"mode":"dashboard"');
    const code = await new Promise<number | null>((resolve) => {
      child.on("exit", (c) => resolve(c));
      child.kill("SIGTERM");
    });
    expect(code).toBe(0);
  });

  it("exits when its parent goes (stopped through npx, which does not forward the signal)", async () => {
    const dir = writeSyntheticRun(join(tmp, "orphan"), { steps: 2 });
    // The shell starts the dashboard in the background, prints its pid and exits after a second.
    const shell = spawn(
      "sh",
      ["-c", `"${process.execPath}" "${BIN}" dashboard "${dir}" --port 0 2>/dev/null & echo $!; sleep 1`],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    shell.stdout.on("data", (c) => {
      out += c;
    });
    await new Promise((resolve) => shell.on("exit", resolve));
    const pid = Number(out.trim());
    expect(pid).toBeGreaterThan(0);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 10_000;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const stillAlive = alive();
    if (stillAlive) process.kill(pid, "SIGKILL");
    expect(stillAlive).toBe(false);
  });

  it("exits 2 naming a missing run directory", async () => {
    const r = await run("dashboard", join(tmp, "nope"), "--port", "0");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope: no such directory/);
  });
});
