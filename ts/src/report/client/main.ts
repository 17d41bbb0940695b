/// <reference lib="dom" />
/**
 * The page of `lgpo-run report` and `lgpo-run dashboard`: reads its data from the page (report) or
 * polls the dashboard server, then draws the runs table and one chart per metric. Bundled into one
 * script by the build (esbuild) and inlined into the HTML with uPlot.
 */
import type { EncodedLines, PageData, SampleLine } from "../page_data.js";
import { type Unit, type XAxis, chartModel, drawUnits, layoutCharts } from "./chart_data.js";
import { type DrawnChart, createChart, pngOf, resizeCharts, svgOf, updateChart } from "./charts.js";
import { decodeLines } from "./decode.js";
import { el } from "./dom.js";
import { RunSeries } from "./run_series.js";
import { runsTable } from "./runs_table.js";
import { samplesTable } from "./samples_view.js";

const POLL_MS = 1000;

class Page {
  readonly runs: RunSeries[];
  charts: DrawnChart[] = [];
  private layoutSignature = "";
  private units: Unit[] = [];
  private xAxis: XAxis = "step";
  private smoothing = 0;
  readonly timings = { decodeMs: 0, drawMs: 0 };
  readonly errors = new Map<number, string>();

  constructor(
    readonly data: PageData,
    private seedBands: boolean,
    private readonly root: { status: HTMLElement; table: HTMLElement; charts: HTMLElement },
  ) {
    this.runs = data.runs.map(() => new RunSeries());
  }

  /** Decodes and merges metrics lines of run `i`; true when something changed. */
  async merge(i: number, encoded: EncodedLines): Promise<boolean> {
    if (encoded.lines === 0 && encoded.reset !== true) return false;
    const start = performance.now();
    this.runs[i]!.merge(await decodeLines(encoded));
    this.timings.decodeMs += performance.now() - start;
    return true;
  }

  setSeedBands(on: boolean): void {
    this.seedBands = on;
    this.draw();
  }

  /** The EMA weight of the curves (0: raw values). */
  setSmoothing(weight: number): void {
    this.smoothing = weight;
    this.draw();
  }

  setXAxis(xAxis: XAxis): void {
    this.xAxis = xAxis;
    this.draw();
  }

  /** Draws the table and the charts: a new layout when keys or units changed, else new data in the same charts. */
  draw(): void {
    const start = performance.now();
    const names = this.data.runs.map((r) => r.name);
    // Seeds share steps, not clock times: over hours every run is drawn on its own.
    this.units = drawUnits(this.data.groups, names, this.seedBands && this.xAxis === "step");
    const keys = new Set(this.runs.flatMap((r) => [...r.columns.keys()]));
    const sections = layoutCharts(this.data.catalog, keys, this.data.hiddenKeys);
    const signature = JSON.stringify([sections, this.units, this.xAxis]);
    const tableUnits = drawUnits(this.data.groups, names, this.seedBands);
    this.root.table.replaceChildren(runsTable(names, this.runs, tableUnits, this.data.configDiff));
    if (signature === this.layoutSignature) {
      for (const chart of this.charts)
        updateChart(chart, chartModel(chart.spec.key, this.units, this.runs, this.xAxis, this.smoothing));
    } else {
      this.layoutSignature = signature;
      for (const chart of this.charts) chart.plot.destroy();
      this.charts = [];
      this.root.charts.replaceChildren();
      for (const section of sections) {
        const grid = el("div", { class: "grid" });
        this.root.charts.append(el("h2", {}, section.title), grid);
        for (const spec of section.charts) {
          this.charts.push(
            createChart(grid, spec, chartModel(spec.key, this.units, this.runs, this.xAxis, this.smoothing)),
          );
        }
      }
      if (this.charts.length === 0) this.root.charts.append(el("p", { class: "muted" }, "no metrics yet"));
    }
    this.timings.drawMs += performance.now() - start;
  }

  /** A line under the title: errors of runs, else when the data was last updated. */
  showStatus(text: string): void {
    const errors = [...this.errors].map(([i, e]) => `${this.data.runs[i]!.name}: ${e}`);
    this.root.status.replaceChildren(...errors.map((e) => el("div", { class: "error" }, e)), text);
  }
}

function skeleton(data: PageData, page: () => Page | undefined) {
  const status = el("div", { class: "status" });
  const table = el("section", { class: "table" });
  const charts = el("div", { class: "charts" });
  const header = el("header", {}, el("h1", {}, data.title), status);
  const xAxis = el(
    "select",
    { id: "x-axis" },
    el("option", { value: "step" }, "steps"),
    el("option", { value: "hours" }, "wall-clock hours (seed groups drawn run by run)"),
  );
  xAxis.addEventListener("change", () => page()?.setXAxis(xAxis.value as XAxis));
  header.append(el("label", { class: "control" }, "x axis: ", xAxis));
  // TensorBoard's smoothing slider: an EMA over each run's points, before seeds are aggregated.
  const smoothing = el("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01", value: "0" });
  const smoothingValue = el("span", { class: "key" }, "0");
  smoothing.addEventListener("input", () => {
    smoothingValue.textContent = smoothing.value;
    page()?.setSmoothing(Number(smoothing.value));
  });
  header.append(el("label", { class: "control" }, "smoothing: ", smoothing, " ", smoothingValue));
  if (data.groups.some((g) => g.runs.length > 1)) {
    const toggle = el("input", { type: "checkbox", id: "seed-bands" });
    toggle.checked = data.seedBands;
    toggle.addEventListener("change", () => page()?.setSeedBands(toggle.checked));
    header.append(
      el("label", { class: "control" }, toggle, " runs that differ only by seed: mean with a min..max band"),
    );
  }
  document.body.append(header, table, charts);
  return { status, table, charts };
}

async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { cache: "no-store" });
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `${url}: HTTP ${response.status}`);
  return body;
}

/** The dashboard: polls each run's new metrics lines and latest samples. */
function follow(page: Page, data: PageData, samplesRoot: HTMLElement): void {
  const lastSamples = data.runs.map(() => "");
  const panels = data.runs.map((run) => {
    const panel = el("div");
    samplesRoot.append(el("h3", {}, run.name), panel);
    return panel;
  });
  const poll = async () => {
    let changed = false;
    for (let i = 0; i < data.runs.length; i++) {
      try {
        const run = page.runs[i]!;
        const encoded = await fetchJson<EncodedLines & { generation: number }>(
          `api/runs/${i}/metrics?from=${run.linesSeen}&generation=${run.generation}`,
        );
        changed = (await page.merge(i, encoded)) || changed;
        run.generation = encoded.generation;
        const samples = await fetchJson<{ samples: SampleLine[] }>(`api/runs/${i}/samples?limit=16`);
        const text = JSON.stringify(samples.samples);
        if (text !== lastSamples[i]) {
          lastSamples[i] = text;
          panels[i]!.replaceChildren(samplesTable(samples.samples));
        }
        page.errors.delete(i);
      } catch (e) {
        page.errors.set(i, (e as Error).message);
      }
    }
    const start = performance.now();
    if (changed) page.draw();
    const drawMs = performance.now() - start;
    lgpo.polls += 1;
    page.showStatus(`live: updated ${new Date().toLocaleTimeString()}`);
    // Long runs take a while to redraw: then poll less often, so that the page stays responsive.
    setTimeout(poll, Math.max(POLL_MS, 3 * drawMs));
  };
  void poll();
}

async function boot(): Promise<void> {
  const data = JSON.parse(document.getElementById("lgpo-data")!.textContent!) as PageData;
  let page: Page | undefined;
  const root = skeleton(data, () => page);
  page = new Page(data, data.seedBands, root);
  lgpo.page = page;
  window.addEventListener("resize", () => resizeCharts(page.charts));
  if (data.mode === "report") {
    await Promise.all((data.metrics ?? []).map((encoded, i) => page.merge(i, encoded)));
    page.draw();
    page.showStatus(`report of ${data.runs.length} run(s), made ${data.generated}`);
  } else {
    page.draw();
    const samples = el("section", { class: "samples" }, el("h2", {}, "Latest samples"));
    document.body.append(samples);
    follow(page, data, samples);
  }
  await new Promise(requestAnimationFrame);
}

/** What tests and users can reach from the console: the page, its charts and their exports. */
const lgpo = {
  page: undefined as Page | undefined,
  polls: 0,
  ready: undefined as Promise<void> | undefined,
  /** Each chart's key and its series: label, colour, role and number of values. */
  charts() {
    return (this.page?.charts ?? []).map((c) => ({
      key: c.spec.key,
      series: c.model.series.map((s) => ({
        label: s.label,
        color: s.color,
        role: s.role,
        points: s.values.filter((v) => v !== null).length,
      })),
    }));
  },
  svg(i: number): string {
    return svgOf(this.page!.charts[i]!);
  },
  png(i: number): Promise<string> {
    return pngOf(this.page!.charts[i]!);
  },
};
(window as unknown as { lgpo: typeof lgpo }).lgpo = lgpo;
lgpo.ready = boot();
