/** Errors of reading run directories: bad input the user can fix, named by file (and line). */

/** A run directory, or one of its files, that cannot be read; the message names the path. */
export class RunDirError extends Error {
  override readonly name = "RunDirError";
}
