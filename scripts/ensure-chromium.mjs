#!/usr/bin/env node
// Makes Chromium available to the browser tests of the report and dashboard (tests/ts/browser.ts).
// Run by `npm test` before vitest. Chromium is Debian's `chromium` package (playwright-core drives
// it; it never downloads a browser of its own). When it is missing:
//   - as root with apt-get: installs it (apt-get update, apt-get install -y chromium), printing so;
//   - otherwise: prints that the browser tests will be skipped, and exits 0;
//   - under CI=true a Chromium that cannot be had is a failure (exit 1).
// $LGPO_CHROMIUM names another executable.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const candidates = process.env.LGPO_CHROMIUM
  ? [process.env.LGPO_CHROMIUM]
  : ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const found = () => candidates.find((p) => existsSync(p));
const ci = process.env.CI === "true";

function run(command, args) {
  process.stderr.write(`lgpo: ${command} ${args.join(" ")}\n`);
  const result = spawnSync(command, args, {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return result.status === 0;
}

if (found()) process.exit(0);

const root = process.getuid?.() === 0;
const apt = existsSync("/usr/bin/apt-get");
if (root && apt && !process.env.LGPO_CHROMIUM) {
  process.stderr.write(
    "lgpo: Chromium is missing; installing Debian's chromium package for the report and dashboard browser tests\n",
  );
  if (run("apt-get", ["update", "-qq"]) && run("apt-get", ["install", "-y", "-qq", "chromium"]) && found()) {
    process.stderr.write(`lgpo: installed ${found()}\n`);
    process.exit(0);
  }
  process.stderr.write("lgpo: installing chromium failed\n");
} else {
  const why = process.env.LGPO_CHROMIUM
    ? `LGPO_CHROMIUM=${process.env.LGPO_CHROMIUM} does not exist`
    : !apt
      ? "apt-get is not available"
      : "not running as root (run `sudo apt-get install chromium`)";
  process.stderr.write(`lgpo: Chromium not found (${candidates.join(", ")}) and not installed: ${why}\n`);
}
if (ci) {
  process.stderr.write("lgpo: CI=true: the browser tests need Chromium; failing\n");
  process.exit(1);
}
process.stderr.write("lgpo: the report and dashboard browser tests will be skipped\n");
