/** Options shared by several commands, and parsers of numeric options that reject bad values with the option's name. */
import { InvalidArgumentError, Option } from "commander";

import { SECTION_DEFAULTS, SECTION_SCHEMAS } from "../config/schema.js";

export function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`expected an integer >= ${min}, got "${value}"`);
    return n;
  };
}

export function number(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got "${value}"`);
    }
    return n;
  };
}

/** A positive integer, or `none` (returned as `false`). */
export function limitOrNone(value: string): number | false {
  return value === "none" ? false : integer(1)(value);
}

/** A comma-separated list of integers >= `min`. */
export function integerList(min: number) {
  return (value: string): number[] => {
    const parse = integer(min);
    const list = value.split(",").map((v) => parse(v.trim()));
    if (list.length === 0) throw new InvalidArgumentError(`expected a comma-separated list, got "${value}"`);
    return list;
  };
}

/** Help of --model. */
export const MODEL_HELP =
  "checkpoint directory, or Hugging Face id org/name[@revision] (from the hub cache, else downloaded)";
/** --revision of a hub id. */
export const revision = () =>
  new Option("--revision <rev>", "branch, tag or commit of a Hugging Face id (default: main)");
/** --offline: the hub cache only. */
export const offline = () =>
  new Option("--offline", "never touch the network: use the hub cache only (as HF_HUB_OFFLINE=1)");
/** --force: resume despite changed keys. */
export const force = () =>
  new Option(
    "--force",
    "with --resume: continue even if --set changes keys other than trainer.steps/epochs, eval, logging, checkpoint",
  ).default(false);

/** --device. */
export const device = () =>
  new Option("--device <device>", "compute device: cpu, cuda or cuda:N")
    .argParser((value: string) => {
      const parsed = SECTION_SCHEMAS.model.shape.device.safeParse(value);
      if (!parsed.success) throw new InvalidArgumentError(`expected cpu, cuda or cuda:N, got "${value}"`);
      return parsed.data;
    })
    .default(SECTION_DEFAULTS.model.device);
/** --dtype. */
export const dtype = () =>
  new Option("--dtype <dtype>", "compute dtype (default: f32 on cpu, bf16 on cuda)").choices(["f32", "bf16", "f16"]);

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
