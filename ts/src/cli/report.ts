/** `lgpo-run report`: one self-contained HTML file with the charts of one or more run directories. */
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
