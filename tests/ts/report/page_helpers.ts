/** Checks of the report/dashboard page in the browser, shared by the report and dashboard tests. */
import type { Page } from "playwright-core";
import { expect } from "vitest";

/** A chart as `window.lgpo.charts()` describes it. */
export interface ChartInfo {
  key: string;
  series: { label: string; color: string; role: string; points: number }[];
}

export const chartsOf = (page: Page): Promise<ChartInfo[]> =>
  page.evaluate(() => (window as unknown as { lgpo: { charts(): ChartInfo[] } }).lgpo.charts());

/**
 * For chart `index`, draws each series alone (so that equal curves do not hide each other) and
 * counts the canvas pixels of its stroke colour: a drawn line leaves pixels of that colour.
 */
export function pixelsPerSeries(page: Page, index: number): Promise<number[]> {
  return page.evaluate(async (i) => {
    interface Plot {
      ctx: CanvasRenderingContext2D;
      series: { show?: boolean }[];
      setSeries(i: number, opts: { show: boolean }): void;
    }
    const lgpo = (
      window as unknown as { lgpo: { page: { charts: { plot: Plot; model: { series: { color: string }[] } }[] } } }
    ).lgpo;
    const { plot, model } = lgpo.page.charts[i]!;
    const ctx = plot.ctx;
    const counts: number[] = [];
    for (let s = 0; s < model.series.length; s++) {
      for (let other = 0; other < model.series.length; other++) plot.setSeries(other + 1, { show: other === s });
      await new Promise(requestAnimationFrame);
      const n = Number.parseInt(model.series[s]!.color.slice(1), 16);
      const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
      const { data } = ctx.getImageData(0, 0, ctx.canvas.width, ctx.canvas.height);
      let count = 0;
      for (let p = 0; p < data.length; p += 4) {
        if (
          data[p + 3]! >= 200 &&
          Math.abs(data[p]! - r) + Math.abs(data[p + 1]! - g) + Math.abs(data[p + 2]! - b) < 40
        ) {
          count += 1;
        }
      }
      counts.push(count);
    }
    for (let s = 0; s < model.series.length; s++) plot.setSeries(s + 1, { show: true });
    await new Promise(requestAnimationFrame);
    return counts;
  }, index);
}

/**
 * Fails unless every chart has data and every line series with points leaves pixels of its colour
 * on the canvas when drawn alone (`only`: just these charts); returns the charts.
 */
export async function expectChartsDrawn(page: Page, only?: string[]): Promise<ChartInfo[]> {
  const charts = await chartsOf(page);
  for (const [i, chart] of charts.entries()) {
    if (only !== undefined && !only.includes(chart.key)) continue;
    expect(
      chart.series.some((s) => s.points > 0),
      `${chart.key}: no series with data`,
    ).toBe(true);
    const pixels = await pixelsPerSeries(page, i);
    chart.series.forEach((s, k) => {
      if (s.role === "line" && s.points > 0) expect(pixels[k], `${chart.key}: ${s.label} not drawn`).toBeGreaterThan(3);
    });
  }
  return charts;
}
