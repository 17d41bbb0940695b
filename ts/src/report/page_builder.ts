/**
 * The data of a page for a list of run directories: names, seed groups, the config differences,
 * and (for a report) every run's metrics.
 */
import { CHART_CATALOG, HIDDEN_KEYS } from "./catalog.js";
import { type RunConfig, configDiff, seedGroups } from "./config_diff.js";
import type { EncodedLines, PageData } from "./page_data.js";
import { checkRunDir, readRunConfig, runNames } from "./run_dir.js";

/** Options of a page. */
export interface PageOptions {
  /** Draw runs that differ only by seed as one mean with a min..max band (default true). */
  seedBands?: boolean;
  /** Page title (default: the run names). */
  title?: string;
}

/** The page data of `dirs`, every directory checked and its config read; metrics are added by the caller. */
export function pageData(
  mode: PageData["mode"],
  dirs: string[],
  options: PageOptions,
  metrics?: EncodedLines[],
): PageData {
  for (const dir of dirs) checkRunDir(dir);
  const names = runNames(dirs);
  const configs: RunConfig[] = dirs.map((dir, i) => ({ dir, name: names[i]!, config: readRunConfig(dir) }));
  return {
    mode,
    title: options.title ?? `lgpo ${mode}: ${names.join(", ")}`,
    generated: new Date().toISOString(),
    runs: dirs.map((dir, i) => ({ name: names[i]!, dir })),
    groups: seedGroups(configs),
    seedBands: options.seedBands ?? true,
    configDiff: configDiff(configs),
    catalog: CHART_CATALOG,
    hiddenKeys: HIDDEN_KEYS,
    ...(metrics ? { metrics } : {}),
  };
}
