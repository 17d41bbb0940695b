/**
 * Download progress: a cli-progress bar on a terminal, one plain line per file otherwise (logs
 * and CI stay readable), or the caller's own handler.
 */
import cliProgress from "cli-progress";

/**
 * What a download reports, in order: `start` (files and bytes to fetch), per file `file` and its
 * `bytes` (running total), then `end` (also after a failure: `ok` false, with the bytes written by then).
 */
export type DownloadEvent =
  | { type: "start"; repo: string; files: number; bytes: number }
  | { type: "file"; repo: string; path: string; size: number }
  | { type: "bytes"; repo: string; done: number; total: number }
  | { type: "end"; repo: string; files: number; bytes: number; ok: boolean };

/** `true` (default): bar on a terminal, plain lines otherwise, on stderr; `false`: silent; or a handler. */
export type ProgressOption = boolean | ((event: DownloadEvent) => void);

/** `1.5 GB`, `12.0 MB`, `532 B`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function terminalBar(stream: NodeJS.WriteStream): (event: DownloadEvent) => void {
  let bar: cliProgress.SingleBar | undefined;
  return (event) => {
    if (event.type === "start") {
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: "{repo} [{bar}] {percentage}% | {done}/{size} | {file}",
          hideCursor: null,
          barsize: 30,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(event.bytes, 0, { repo: event.repo, done: formatBytes(0), size: formatBytes(event.bytes), file: "" });
    } else if (event.type === "file") {
      bar?.update({ file: event.path });
    } else if (event.type === "bytes") {
      bar?.update(event.done, { done: formatBytes(event.done) });
    } else {
      bar?.stop();
    }
  };
}

function plainLines(stream: NodeJS.WritableStream): (event: DownloadEvent) => void {
  return (event) => {
    if (event.type === "start") {
      stream.write(`downloading ${event.repo}: ${event.files} file(s), ${formatBytes(event.bytes)}\n`);
    } else if (event.type === "file") {
      stream.write(`downloading ${event.repo}: ${event.path} (${formatBytes(event.size)})\n`);
    } else if (event.type === "end") {
      const what = event.ok ? "downloaded" : "stopped downloading";
      stream.write(`${what} ${event.repo}: ${event.files} file(s), ${formatBytes(event.bytes)}\n`);
    }
  };
}

/** The handler for `option`, writing to stderr. */
export function progressHandler(option: ProgressOption | undefined): (event: DownloadEvent) => void {
  if (typeof option === "function") return option;
  if (option === false) return () => {};
  return process.stderr.isTTY === true ? terminalBar(process.stderr) : plainLines(process.stderr);
}
