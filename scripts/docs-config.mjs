#!/usr/bin/env node
// Regenerates docs/config.md from the config schema (run after `npm run build:ts`).
import { writeFileSync } from "node:fs";
import { configMarkdown } from "../ts/dist/config/docs.js";

writeFileSync(new URL("../docs/config.md", import.meta.url), configMarkdown());
process.stderr.write("wrote docs/config.md\n");
