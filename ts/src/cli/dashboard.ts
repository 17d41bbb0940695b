/** `lgpo-run dashboard`: a local web server with the live charts and latest samples of run directories. */
import type { Command } from "commander";
import { integer } from "./options.js";
import { startDashboard } from "../dashboard/server.js";
import { RunDirError } from "../report/errors.js";
import { UsageError } from "./errors.js";

export interface DashboardCliOptions {
  port: number;
  seedBands: boolean;
  title?: string;
}

/** Serves until SIGINT or SIGTERM. */
export async function dashboard(dirs: string[], options: DashboardCliOptions): Promise<void> {
  let server: Awaited<ReturnType<typeof startDashboard>>;
  try {
    server = await startDashboard(dirs, { port: options.port, seedBands: options.seedBands, title: options.title });
  } catch (e) {
    if (e instanceof RunDirError) throw new UsageError(e.message);
    if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new UsageError(`--port ${options.port}: already in use on 127.0.0.1`);
    }
    throw e;
  }
  process.stderr.write(`lgpo-run: dashboard of ${dirs.length} run(s) at ${server.url} (Ctrl-C stops it)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    // Stopped through `npx` (npm does not forward signals): when the parent goes, so does the
    // server, instead of holding its port as an orphan.
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(watch);
        stop();
      }
    }, 1000);
    watch.unref();
  });
  await server.close();
}

/** Adds the `dashboard` command to `cli`. */
export function registerDashboard(cli: Command): void {
  cli
    .command("dashboard")
    .description(
      "serve live charts and the latest samples of run directories on http://127.0.0.1:PORT " +
        "(loopback only, read-only; follows metrics.jsonl and samples.jsonl while runs train)",
    )
    .argument("<run_dir...>", "run directories (they may still be training)")
    .option("--port <n>", "TCP port on 127.0.0.1 (0 picks a free one)", integer(0), 6150)
    .option("--no-seed-bands", "draw every run on its own instead of runs that differ only by seed as mean ± min..max")
    .option("--title <text>", "page title (default: the run names)")
    .action((dirs: string[], o) => dashboard(dirs, o));
}
