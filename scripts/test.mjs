#!/usr/bin/env node
// `npm test`: the Rust tests, the build (addon + TypeScript; a no-op when fresh), the browser the
// report tests drive, then the TypeScript suites.
//
// The Rust tests build with the addon's profile and target (release, the host triple that
// `napi build` passes), so they reuse the dependency tree `npm install` compiled instead of
// compiling candle and its dependencies a second time in the dev profile.
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The host's target triple, as rustc reports it. */
function hostTriple() {
  const out = execFileSync("rustc", ["-vV"], { encoding: "utf8" });
  const line = out.split("\n").find((l) => l.startsWith("host: "));
  if (!line) throw new Error(`cannot read the host triple from \`rustc -vV\`:\n${out}`);
  return line.slice("host: ".length).trim();
}

function run(label, command, args) {
  process.stderr.write(`lgpo test: ${label}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    process.stderr.write(`lgpo test: ${label} failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status ?? 1);
  }
}

run("Rust tests (cargo test --release, the addon's target)", "cargo", [
  "test",
  "--workspace",
  "--release",
  "--target",
  hostTriple(),
]);
run("building the addon and the TypeScript package if stale", "node", ["scripts/build.mjs"]);
run("checking the browser of the report tests", "node", ["scripts/ensure-chromium.mjs"]);
run("TypeScript suites (vitest)", "npx", ["vitest", "run"]);
