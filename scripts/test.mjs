#!/usr/bin/env node
// `npm test`: the Rust tests, the build (addon + TypeScript; a no-op when fresh), the browser the
// report tests drive, then the TypeScript suites.
//
// The Rust tests build with the addon's profile and target (release, the host triple that
// `napi build` passes), so they reuse the dependency tree `npm install` compiled instead of
// compiling candle and its dependencies a second time in the dev profile.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The host's target triple, as rustc reports it. */
function hostTriple() {
  const out = execFileSync("rustc", ["-vV"], { encoding: "utf8" });
  const line = out.split("\n").find((l) => l.startsWith("host: "));
  if (!line) throw new Error(`cannot read the host triple from \`rustc -vV\`:\n${out}`);
  return line.slice("host: ".length).trim();
}

function run(label, command, args, env = {}) {
  process.stderr.write(`lgpo test: ${label}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  if (result.status !== 0) {
    process.stderr.write(`lgpo test: ${label} failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status ?? 1);
  }
}

/** Whether an MPI toolchain is installed (`mpicc` on the PATH): the data-parallel test needs it. */
function hasMpi() {
  return spawnSync("mpicc", ["--version"], { stdio: "ignore" }).status === 0;
}

// Tests that skip (reference data absent) append a line here; cargo's capture would hide them.
const skipDir = mkdtempSync(join(tmpdir(), "lgpo-skips-"));
const skipLog = join(skipDir, "skipped.txt");
// With MPI installed, the core's `mpi` feature builds the data-parallel backend and its 2-rank test.
const mpi = hasMpi() ? ["--features", "lgpo-core/mpi"] : [];
run(
  `Rust tests (cargo test --release, the addon's target${mpi.length ? ", with MPI" : ""})`,
  "cargo",
  ["test", "--workspace", "--release", "--target", hostTriple(), ...mpi],
  { LGPO_SKIP_LOG: skipLog },
);
const skips = existsSync(skipLog) ? readFileSync(skipLog, "utf8").trim().split("\n") : [];
rmSync(skipDir, { recursive: true, force: true });
process.stderr.write(
  skips.length
    ? `lgpo test: ${skips.length} Rust test(s) SKIPPED:\n${skips.map((l) => `  SKIPPED ${l}`).join("\n")}\n`
    : "lgpo test: no Rust test skipped\n",
);
// With MPI, the addon joins MPI jobs too (the data-parallel trainer tests run 2 ranks).
const features = [process.env.LGPO_CARGO_FEATURES, mpi.length ? "mpi" : undefined].filter(Boolean).join(",");
run("building the addon and the TypeScript package if stale", "node", ["scripts/build.mjs"], {
  ...(features ? { LGPO_CARGO_FEATURES: features } : {}),
});
run("checking the browser of the report tests", "node", ["scripts/ensure-chromium.mjs"]);
run("TypeScript suites (vitest)", "npx", ["vitest", "run"]);
