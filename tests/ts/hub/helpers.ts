/** Helpers of the hub tests: a per-test hub environment (fresh cache, endpoint, no token, online) and rejections. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, vi } from "vitest";

import { HubError } from "../../../ts/src/index.js";

/** Points the hub variables at a new temporary cache and `endpoint`; returns the cache folder. */
export function hubEnv(endpoint: string): string {
  const home = mkdtempSync(join(tmpdir(), "lgpo-hf-home-"));
  const cache = join(home, "hub");
  vi.stubEnv("HF_HOME", home);
  vi.stubEnv("HF_HUB_CACHE", cache);
  vi.stubEnv("HF_ENDPOINT", endpoint);
  vi.stubEnv("HF_TOKEN", "");
  vi.stubEnv("HUGGING_FACE_HUB_TOKEN", "");
  vi.stubEnv("HF_HUB_OFFLINE", "");
  vi.stubEnv("TRANSFORMERS_OFFLINE", "");
  return cache;
}

/** Restores the environment and removes the temporary folders `hubEnv` made. */
export function restoreEnv(): void {
  const home = process.env.HF_HOME;
  vi.unstubAllEnvs();
  if (home?.includes("lgpo-hf-home-")) rmSync(home, { recursive: true, force: true });
}

/** The `HubError` `promise` rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<HubError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HubError);
  return error as HubError;
}
