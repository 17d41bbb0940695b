#!/usr/bin/env node
// Renders a report written by `lgpo-run report` to PNG with headless Chromium (Debian's chromium,
// driven by playwright-core), for the README and docs:
//
//   node scripts/report-screenshot.mjs REPORT.html OUT.png [--width 1400] [--height 1100] [--full-page]
//
// The page is opened with every request refused (a report needs none), and the screenshot is
// taken once every chart has drawn. $LGPO_CHROMIUM names another Chromium executable.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    width: { type: "string", default: "1400" },
    height: { type: "string", default: "1100" },
    "full-page": { type: "boolean", default: false },
  },
});
if (positionals.length !== 2) {
  process.stderr.write(
    "usage: node scripts/report-screenshot.mjs REPORT.html OUT.png [--width N] [--height N] [--full-page]\n",
  );
  process.exit(2);
}
const [report, out] = positionals.map((p) => resolve(p));
if (!existsSync(report)) {
  process.stderr.write(`report-screenshot: ${report}: no such file\n`);
  process.exit(2);
}
const executablePath = process.env.LGPO_CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  process.stderr.write(
    `report-screenshot: ${executablePath} not found: apt-get install chromium, or set LGPO_CHROMIUM\n`,
  );
  process.exit(2);
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({
    viewport: { width: Number(values.width), height: Number(values.height) },
    deviceScaleFactor: 1,
  });
  const url = pathToFileURL(report).href;
  await page.route("**/*", (route) => (route.request().url() === url ? route.continue() : route.abort()));
  await page.goto(url);
  await page.evaluate(() => window.lgpo.ready);
  await page.screenshot({ path: out, fullPage: values["full-page"] });
  process.stderr.write(`report-screenshot: wrote ${out}\n`);
} finally {
  await browser.close();
}
