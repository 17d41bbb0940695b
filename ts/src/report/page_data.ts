/**
 * What the Node side hands to the page (report and dashboard alike). Types only: the browser
 * script imports them as types, so that both sides agree on one shape.
 */

/** Lines `from`..`from + lines` of a metrics.jsonl, encoded by `MetricTable.encode`. */
export interface EncodedLines {
  /** Index of the first line. */
  from: number;
  /** Number of lines. */
  lines: number;
  /** Column keys, in the order of the columns in `data`. */
  keys: string[];
  /** Unix time of the run's first line; the `time` column is relative to it. */
  t0: number | null;
  /**
   * base64 of gzip of a little-endian Float32Array, column-major (`lines` values per key), NaN = no
   * value, its bytes shuffled (byte b of float i at b * floats + i).
   */
  data: string;
  /** Dashboard only: the file was replaced, drop earlier lines. */
  reset?: boolean;
}

/** One run directory as the page shows it. */
export interface PageRun {
  /** Short unique name (the directory name, with parents added where names clash). */
  name: string;
  /** The directory as given on the command line. */
  dir: string;
}

/** Runs drawn as one series (runs that differ only by seed): mean with a min..max band. */
export interface PageGroup {
  label: string;
  /** Indices into `runs`. */
  runs: number[];
}

/** Config keys whose values differ between the runs, and each run's value (display text). */
export interface ConfigDiff {
  keys: string[];
  /** values[run][key]; "" where the run's config lacks the key or has no config.yaml. */
  values: string[][];
}

/** The chart catalogue: sections of charts in reading order. */
export interface ChartSection {
  title: string;
  /** Charts of fixed keys, drawn when some run has the key. */
  charts?: ChartSpec[];
  /** Every key with this prefix gets a chart (eval benchmarks, known only from the data). */
  prefix?: string;
  /** Every numeric key not claimed by another section gets a chart. */
  rest?: boolean;
}

/** One chart: a metric key over steps, one series per run or seed group. */
export interface ChartSpec {
  key: string;
  title: string;
  /** Where the paper shows this curve, for the caption. */
  note?: string;
}

/** Everything the page needs at start. */
export interface PageData {
  mode: "report" | "dashboard";
  title: string;
  /** ISO time the page was made. */
  generated: string;
  runs: PageRun[];
  groups: PageGroup[];
  /** Whether seed groups start drawn as mean ± band (the page has a switch). */
  seedBands: boolean;
  configDiff: ConfigDiff;
  catalog: ChartSection[];
  /** Report only: every run's metrics. The dashboard fetches them. */
  metrics?: EncodedLines[];
  /** Keys never charted (the x axis and the clock). */
  hiddenKeys: string[];
}

/** One line of samples.jsonl (the dashboard shows the latest). */
export interface SampleLine {
  step: number;
  prompt_index?: number;
  sample?: number;
  prompt?: string;
  response?: string;
  reward?: number | null;
  advantage?: number | null;
  mean_logprob?: number | null;
  gated?: boolean | null;
  finish_reason?: string;
}
