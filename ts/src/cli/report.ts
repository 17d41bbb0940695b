/** `lgpo-run report`: one self-contained HTML file with the charts of one or more run directories. */
import { join } from "node:path";

import { RunDirError } from "../report/errors.js";
import { renderReport } from "../report/report.js";
import { UsageError } from "./errors.js";
import { writeLines } from "./io.js";

export interface ReportCliOptions {
  /** Default: report.html in the (first) run directory. */
  out?: string;
  seedBands: boolean;
  title?: string;
}

export function report(dirs: string[], options: ReportCliOptions): void {
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
