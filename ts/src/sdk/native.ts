/**
 * The native addon (`bindings/node`, napi-rs over the Rust core), loaded lazily, on the first
 * call that needs it: the reward verifiers and the data readers work without it. Config
 * resolution does not: it asks the core what each objective needs (`objectiveRequirements`).
 */
import { createRequire } from "node:module";

import type * as NativeModule from "@lgpo/native";

export type Native = typeof NativeModule;

const require = createRequire(import.meta.url);
let loaded: Native | undefined;

/** The addon; throws a clear error when it has not been built. */
export function native(): Native {
  if (loaded === undefined) {
    try {
      loaded = require("@lgpo/native") as Native;
    } catch (e) {
      const first = String((e as Error).message).split("\n")[0];
      throw new Error(
        `the lgpo native addon is not built (${first}); run \`npm install\` (or \`npm run build:native\`) at the repository root`,
      );
    }
  }
  return loaded;
}
