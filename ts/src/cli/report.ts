/** `lgpo-run report`: one self-contained HTML file with the charts of one or more run directories. */
import type { Command } from "commander";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { RunDirError } from "../report/errors.js";
import { figureStem, renderFigures } from "../report/figures.js";
import { renderReport } from "../report/report.js";
import { UsageError } from "./errors.js";
import { writeLines } from "./io.js";

export interface ReportCliOptions {
  /** Default: report.html in the (first) run directory. */
  out?: string;
  seedBands: boolean;
  title?: string;
  /** Write one SVG per metric of `metrics` into this folder instead of the HTML page. */
  svg?: string;
  metrics?: string;
  smoothing?: number;
}

export function report(dirs: string[], options: ReportCliOptions): void {
  if (options.svg !== undefined) {
    figures(dirs, options.svg, options);
    return;
  }
  if (options.metrics !== undefined || options.smoothing !== undefined) {
    throw new UsageError("--metrics and --smoothing go with --svg (the page has its own smoothing slider)");
  }
  let html: string;
  try {
    html = renderReport(dirs, { seedBands: options.seedBands, title: options.title });
  } catch (e) {
    throw e instanceof RunDirError ? new UsageError(e.message) : e;
  }
  const out = options.out ?? join(dirs[0]!, "report.html");
  writeLines([html], out);
  process.stderr.write(`lgpo-run: wrote ${out} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB)\n`);
}

/** `--svg DIR`: one SVG file per metric, runs that differ only by seed as a band. */
function figures(dirs: string[], dir: string, options: ReportCliOptions): void {
  const keys = (options.metrics ?? "").split(",").filter(Boolean);
  if (keys.length === 0) throw new UsageError("--svg needs --metrics KEY[,KEY...]");
  const smoothing = options.smoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) throw new UsageError(`--smoothing must be in [0, 1), got ${smoothing}`);
  let out: ReturnType<typeof renderFigures>;
  try {
    out = renderFigures(dirs, { keys, smoothing, seedBands: options.seedBands, title: options.title });
  } catch (e) {
    throw e instanceof RunDirError ? new UsageError(e.message) : e;
  }
  mkdirSync(dir, { recursive: true });
  for (const f of out) writeLines([f.svg], join(dir, `${figureStem(f.key)}.svg`));
  process.stderr.write(`lgpo-run: wrote ${out.length} SVG files into ${dir}\n`);
}

/** Adds the `report` command to `cli`. */
export function registerReport(cli: Command): void {
  cli
    .command("report")
    .description(
      "write one self-contained HTML file (no network needed to view it) with a chart per metric over steps, " +
        "the runs overlaid, and a table of config differences and final eval scores; charts export as SVG and PNG",
    )
    .argument("<run_dir...>", "run directories written by lgpo-run train")
    .option("--out <file>", "output HTML file; written atomically (default: report.html in the first RUN_DIR)")
    .option("--no-seed-bands", "draw every run on its own instead of runs that differ only by seed as mean ± min..max")
    .option("--title <text>", "page title (default: the run names)")
    .option("--svg <dir>", "instead of the page, write one SVG per --metrics key into DIR (for docs)")
    .option("--metrics <keys>", "comma-separated metric keys of the --svg figures")
    .option("--smoothing <w>", "EMA weight of the --svg curves in [0, 1) (TensorBoard's slider)", Number.parseFloat)
    .action((dirs: string[], o) => report(dirs, o));
}
