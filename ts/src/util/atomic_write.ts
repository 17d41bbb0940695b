/**
 * Atomic file writes: the data goes to a temporary file beside the target, which is renamed into
 * place, so a reader (or a process resumed after a crash) sees the old file or the new one, never
 * half of one. `durable` also flushes the file and its folder to disk (fsync), so a power loss
 * after the call keeps the new file; checkpoints need that, logs rewritten on resume do not.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Flushes a file or a directory (its entries) to disk. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` atomically; on failure the temporary file is removed and the error rethrown. */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: { durable?: boolean } = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, data);
    if (options.durable) fsyncPath(tmp);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (options.durable) fsyncPath(dirname(path));
}
