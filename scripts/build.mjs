#!/usr/bin/env node
// Builds what the npm package needs: the native addon (cargo release build through @napi-rs/cli)
// and the TypeScript package. Run by `npm install` (prepare) and before the TypeScript tests;
// both steps are incremental, so a second run takes seconds.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
// LGPO_CARGO_FEATURES=cuda builds the addon with CUDA (after `. .cuda/env.sh`; docs/gpu.md).
const features = process.env.LGPO_CARGO_FEATURES ? ["--features", process.env.LGPO_CARGO_FEATURES] : [];

function run(label, command, args, cwd) {
  process.stderr.write(`lgpo: ${label}\n`);
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.status !== 0) {
    process.stderr.write(`lgpo: ${label} failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status ?? 1);
  }
}

run(
  "building the native addon (cargo build --release; several minutes on a first install)",
  "npx",
  ["napi", "build", "--platform", "--release", ...features],
  `${root}/bindings/node`,
);
run("building the TypeScript package (tsc)", "npx", ["tsc", "-p", "ts/tsconfig.json"], root);
run("type-checking the page script (tsc, DOM types)", "npx", ["tsc", "-p", "ts/tsconfig.client.json"], root);
run("bundling the report and dashboard page script (esbuild)", "node", ["scripts/bundle-page.mjs"], root);
