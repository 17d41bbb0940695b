/**
 * Locates the shared reference data for tests: `$LGPO_DATA_DIR`, else `<repo>/../shared/data`.
 * A missing file skips the tests that need it (with a printed reason), except under CI=true, where
 * the tests run anyway and fail on the missing file.
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DATA_DIR = process.env.LGPO_DATA_DIR ?? resolve(REPO_ROOT, "../shared/data");
const IN_CI = process.env.CI === "true";

/** A data file and whether tests that need it should be skipped. */
export interface DataFile {
  path: string;
  /** True when the file is absent and we are not in CI: skip the dependent tests. */
  skip: boolean;
}

/** Finds `rel` under the data directory; prints why dependent tests are skipped when it is absent. */
export function dataFile(rel: string): DataFile {
  const path = join(DATA_DIR, rel);
  const present = existsSync(path);
  if (!present && !IN_CI) {
    console.warn(
      `[skip] ${rel}: not found under ${DATA_DIR} (set LGPO_DATA_DIR to the shared data directory); tests that need it are skipped`,
    );
  }
  return { path, skip: !present && !IN_CI };
}

/** Reads a JSONL file (throws when missing, so that CI fails). */
export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as T);
}
