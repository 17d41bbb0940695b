/**
 * What a user sees while a run trains: a progress bar with ETA, reward, gate fraction and step
 * time on a terminal (cli-progress), or one plain line per step when stderr is not a TTY.
 */
import cliProgress from "cli-progress";

/** Console modes of `logging.progress`. */
export type ProgressMode = "auto" | "bar" | "lines" | "none";

/** Formats a number compactly for the console. */
function fmt(v: unknown, digits = 3): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "-";
}

/** The headline numbers of a step: reward and gate fraction (RL), or loss (SFT). */
function headline(m: Record<string, unknown>): string {
  if (!("reward/mean" in m)) return `loss ${fmt(m.loss)}`;
  return `reward ${fmt(m["reward/mean"])} | gated ${fmt(m["gate/gated_frac"], 2)}`;
}

/** One console line of a training step's metrics. */
export function stepLine(m: Record<string, unknown>, total: number | undefined): string {
  const of = total === undefined ? "" : `/${total}`;
  if (!("reward/mean" in m)) {
    return `step ${m.step}${of}  loss ${fmt(m.loss)}  grad_norm ${fmt(m.grad_norm)}  lr ${fmt(m.lr, 6)}  ${fmt(m["time/step_s"], 2)}s`;
  }
  return (
    `step ${m.step}${of}  reward ${fmt(m["reward/mean"])}  success ${fmt(m["reward/success_frac"])}  ` +
    `gated ${fmt(m["gate/gated_frac"])}${typeof m["gate/tau"] === "number" ? ` (tau ${fmt(m["gate/tau"])})` : ""}  ` +
    `len ${fmt(m["response_length/mean"], 1)}  ` +
    `${fmt(m["time/step_s"], 1)}s (gen ${fmt(m["time/generate_s"], 1)}, reward ${fmt(m["time/reward_s"], 1)}, ` +
    `old ${fmt(m["time/old_logprob_s"], 1)}, update ${fmt(m["time/update_s"], 1)})`
  );
}

/** Progress output of a run. */
export class ConsoleReporter {
  private bar: cliProgress.SingleBar | undefined;
  private readonly mode: Exclude<ProgressMode, "auto">;

  constructor(
    mode: ProgressMode,
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.mode = mode === "auto" ? (stream.isTTY ? "bar" : "lines") : mode;
  }

  /** Starts the bar at `done` of `total` steps. */
  start(total: number, done: number): void {
    if (this.mode !== "bar") return;
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: `${this.label} |{bar}| {value}/{total} steps | ETA {eta_formatted} | {headline} | {step_s}s/step`,
        hideCursor: true,
        etaBuffer: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, done, { headline: "-", step_s: "-" });
  }

  /** Reports a finished step. */
  step(metrics: Record<string, unknown>, total: number | undefined): void {
    if (this.mode === "bar" && this.bar) {
      this.bar.update(Number(metrics.step), { headline: headline(metrics), step_s: fmt(metrics["time/step_s"], 1) });
    } else if (this.mode === "lines") {
      this.stream.write(`${stepLine(metrics, total)}\n`);
    }
  }

  /** A message above the bar (or a plain line). */
  note(message: string): void {
    if (this.mode === "none") return;
    if (this.bar) {
      this.stream.write(`\r\x1b[K${message}\n`);
      this.bar.render();
    } else {
      this.stream.write(`${message}\n`);
    }
  }

  /** Stops the bar. */
  end(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
