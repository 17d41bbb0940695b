/**
 * Integrity of a downloaded blob against the etag the hub gave it: the sha256 of an LFS file, or
 * the git blob id (sha1 of `blob <size>\0` + contents) of a file stored in git.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** The hash the etag is, or undefined when it is neither form (then only the size is checked). */
function etagAlgorithm(etag: string): "sha256" | "git-sha1" | undefined {
  if (/^[0-9a-f]{64}$/.test(etag)) return "sha256";
  if (/^[0-9a-f]{40}$/.test(etag)) return "git-sha1";
  return undefined;
}

/** Whether the file at `path` of `size` bytes hashes to `etag` (true when the etag is no known hash). */
export async function matchesEtag(path: string, size: number, etag: string): Promise<boolean> {
  const algorithm = etagAlgorithm(etag);
  if (algorithm === undefined) return true;
  const hash = createHash(algorithm === "sha256" ? "sha256" : "sha1");
  if (algorithm === "git-sha1") hash.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex") === etag;
}
