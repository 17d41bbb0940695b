/** Timing helpers shared by the benchmarks: repeated runs after a warm-up, median and spread. */
import { performance } from "node:perf_hooks";

/** Median and range of a sample. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The median (mean of the middle two for an even count), min and max of `values`. */
export function spread(values: number[]): Spread {
  if (values.length === 0) throw new RangeError("spread of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** Runs `run` `warmup` times untimed, then `repeats` times, and returns each timed run's seconds. */
export async function timeRepeats(run: () => Promise<void>, repeats: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run();
  const seconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    seconds.push((performance.now() - start) / 1000);
  }
  return seconds;
}
