/**
 * Headless Chromium for the page tests (Debian's `chromium` package, driven by playwright-core).
 * `scripts/ensure-chromium.mjs`, run by `npm test`, installs it when missing and we are root. When
 * it is still missing the browser tests are skipped with a printed reason, except under CI=true,
 * where they run and fail. Screenshots and exports go to test-artifacts/ (git-ignored).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

import { REPO_ROOT } from "./data_files.js";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** The Chromium executable: `$LGPO_CHROMIUM`, else Debian's. */
export const CHROMIUM = process.env.LGPO_CHROMIUM ?? CANDIDATES.find((p) => existsSync(p)) ?? CANDIDATES[0]!;

/** True when the browser tests should be skipped (no Chromium, not in CI); prints why. */
export function skipBrowserTests(): boolean {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === "true") return false;
  console.warn(
    `[skip] ${CHROMIUM} not found: browser tests of the report and dashboard are skipped ` +
      "(install Debian's chromium package, run `node scripts/ensure-chromium.mjs` as root, or set LGPO_CHROMIUM)",
  );
  return true;
}

/** Starts headless Chromium (no sandbox: tests may run as root). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/** The folder for screenshots and exported charts, created on demand. */
export function artifactsDir(sub: string): string {
  const dir = join(REPO_ROOT, "test-artifacts", sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}
