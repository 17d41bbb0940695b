/** `lgpo-run report`: one self-contained HTML file of charts over steps for one or more runs. */
import { renderPage } from "./html.js";
import { type PageOptions, pageData } from "./page_builder.js";
import { checkRunDir, readRunMetrics } from "./run_dir.js";

/** The report HTML of `dirs` (each a run directory with a metrics.jsonl). */
export function renderReport(dirs: string[], options: PageOptions = {}): string {
  if (dirs.length === 0) throw new Error("renderReport: no run directories");
  for (const dir of dirs) checkRunDir(dir);
  const metrics = dirs.map((dir) => readRunMetrics(dir).encode());
  return renderPage(pageData("report", dirs, options, metrics));
}
