/** `lgpo-run download`: fetch a model or dataset into the hub cache and print where it is. */
import type { Command } from "commander";
import { offline, revision } from "./options.js";
import { DATASET_SCHEME } from "../hub/repo_id.js";
import { resolveDataset, resolveModel } from "../hub/index.js";
import { UsageError } from "./errors.js";

export interface DownloadCliOptions {
  revision?: string;
  offline?: boolean;
  split?: string;
  pattern?: string;
}

/** Prints the snapshot folder of a model, or the files of a dataset split, one per line. */
export async function download(id: string, options: DownloadCliOptions): Promise<void> {
  const hub = { revision: options.revision, offline: options.offline };
  if (id.startsWith(DATASET_SCHEME)) {
    const files = await resolveDataset(id, { ...hub, split: options.split, pattern: options.pattern });
    process.stdout.write(files.map((f) => `${f}\n`).join(""));
    return;
  }
  if (options.split !== undefined || options.pattern !== undefined) {
    throw new UsageError("--split and --pattern apply to datasets (hf://datasets/org/name)");
  }
  process.stdout.write(`${await resolveModel(id, hub)}\n`);
}

/** Adds the `download` command to `cli`. */
export function registerDownload(cli: Command): void {
  cli
    .command("download")
    .description(
      "fetch a model (org/name[@revision]) or dataset (hf://datasets/org/name[@revision][/glob]) into the " +
        "Hugging Face cache shared with transformers, datasets and vLLM; print the model's folder or the dataset's files",
    )
    .argument("<id>", "model id or hf://datasets/ address")
    .addOption(revision())
    .addOption(offline())
    .option("--split <split>", "dataset split whose files to fetch (default: train)")
    .option("--pattern <glob>", "dataset files to fetch, as a path or glob inside the repository")
    .action((id, o) => download(id, o));
}
