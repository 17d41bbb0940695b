#!/usr/bin/env node
// Bundles the page script of `lgpo-run report` and `lgpo-run dashboard` (ts/src/report/client/)
// into one minified file, ts/dist/report/page.js, which the page inlines next to uPlot.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: ["ts/src/report/client/main.ts"],
  outfile: "ts/dist/report/page.js",
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2022",
  logLevel: "warning",
});
