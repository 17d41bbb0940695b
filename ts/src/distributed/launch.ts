/**
 * `lgpo-run train --nproc N`: the same command as N ranks on this machine, through Open MPI's
 * `mpirun` (docs/distributed.md gives the commands for SLURM and several machines).
 */
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";

/** The arguments of `mpirun` that start `command` (node and its arguments) as `n` ranks. */
export function mpirunArgs(n: number, command: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const cores = availableParallelism();
  const threads = env.RAYON_NUM_THREADS ?? String(Math.max(1, Math.floor(cores / n)));
  return [
    "-np",
    String(n),
    // More ranks than mpirun's slots is allowed (it counts physical cores, which a VM may report
    // as fewer than its CPUs; slow, but it runs), and each rank's threads may use any core:
    // mpirun would otherwise pin each rank to one.
    "--oversubscribe",
    "--bind-to",
    "none",
    // Every rank's compute threads share the cores.
    "-x",
    `RAYON_NUM_THREADS=${threads}`,
    ...(process.getuid?.() === 0 ? ["--allow-run-as-root"] : []),
    ...command,
  ];
}

/** `argv` without `--nproc N` / `--nproc=N`. */
export function withoutNproc(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--nproc") i++;
    else if (!argv[i]!.startsWith("--nproc=")) out.push(argv[i]!);
  }
  return out;
}

/**
 * Runs this process's command again as `n` MPI ranks and resolves to the job's exit status; when
 * a rank fails, mpirun ends the others and names it. Signals are passed on to mpirun, which passes
 * them to the ranks (each finishes its step and rank 0 writes a checkpoint).
 */
export function launchRanks(n: number, argv: readonly string[] = process.argv): Promise<number> {
  const [node, script, ...args] = argv;
  const child = spawn("mpirun", mpirunArgs(n, [node!, script!, ...withoutNproc(args)]), { stdio: "inherit" });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  return new Promise((resolve, reject) => {
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        e.code === "ENOENT"
          ? new Error(
              "--nproc runs mpirun, which is not installed: install Open MPI (Debian/Ubuntu: apt-get install " +
                "openmpi-bin libopenmpi-dev) and build lgpo with MPI (docs/distributed.md)",
            )
          : e,
      );
    });
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve(code ?? (signal === "SIGINT" ? 130 : 1));
    });
  });
}
