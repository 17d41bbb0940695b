#!/usr/bin/env node
// Entry point of `lgpo-run` (declared as the root package's bin, so `npx lgpo-run` works in the checkout).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write("lgpo-run: the TypeScript package is not built; run `npm install` at the repository root\n");
  process.exit(1);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
