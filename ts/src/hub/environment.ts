/**
 * The environment variables huggingface_hub reads, read the same way, so that lgpo and the Python
 * tools (transformers, datasets, vLLM) share one cache, one endpoint and one token.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const TRUE_VALUES = new Set(["1", "ON", "YES", "TRUE"]);

function isTrue(value: string | undefined): boolean {
  return value !== undefined && TRUE_VALUES.has(value.trim().toUpperCase());
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
}

function nonEmpty(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(): string {
  const home = nonEmpty("HF_HOME");
  if (home !== undefined) return expandHome(home);
  return join(expandHome(nonEmpty("XDG_CACHE_HOME") ?? "~/.cache"), "huggingface");
}

/** The hub cache: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export function hubCacheDir(): string {
  const cache = nonEmpty("HF_HUB_CACHE") ?? nonEmpty("HUGGINGFACE_HUB_CACHE");
  return cache !== undefined ? expandHome(cache) : join(hfHome(), "hub");
}

/** The hub's base URL: `HF_ENDPOINT` (without trailing slashes), else https://huggingface.co. */
export function hubEndpoint(): string {
  return (nonEmpty("HF_ENDPOINT") ?? "https://huggingface.co").replace(/\/+$/, "");
}

/** `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set to 1, ON, YES or TRUE. */
export function offlineFromEnv(): boolean {
  return isTrue(process.env.HF_HUB_OFFLINE ?? process.env.TRANSFORMERS_OFFLINE);
}

/** `HF_TOKEN`, else the token `huggingface-cli login` saved (`HF_TOKEN_PATH`, else `HF_HOME/token`). */
export function hubToken(): string | undefined {
  const token = nonEmpty("HF_TOKEN") ?? nonEmpty("HUGGING_FACE_HUB_TOKEN");
  if (token !== undefined) return token.trim();
  const path = expandHome(nonEmpty("HF_TOKEN_PATH") ?? join(hfHome(), "token"));
  if (!existsSync(path)) return undefined;
  const saved = readFileSync(path, "utf8").trim();
  return saved === "" ? undefined : saved;
}
