/**
 * Documentation of every config key, generated from the schema (its descriptions, types and
 * defaults): the reference in docs/config.md and the key list of `lgpo-run train --help`.
 */
import { z } from "zod";

import { CORE_STATED_DEFAULTS } from "../sdk/objective_schema.js";
import { RunConfigSchema } from "./schema.js";

/** The default of a key that the schema leaves to the core (the gate's τ), by its dotted path. */
function coreDefault(key: string): string | undefined {
  const read = key.startsWith("objective.") ? CORE_STATED_DEFAULTS[key.slice("objective.".length)] : undefined;
  return read ? JSON.stringify(read()) : undefined;
}

/** One documented key. */
export interface ConfigKeyDoc {
  /** Dotted path; list items appear as `eval.benchmarks[].name`. */
  key: string;
  type: string;
  /** The default as YAML-ish text, or `required` / `unset`. */
  default: string;
  description: string;
  /** True for sections (objects), false for leaves. */
  section: boolean;
}

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  required?: string[];
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  exclusiveMaximum?: number;
}

function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(" | ");
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "values"}`;
  const base = Array.isArray(s.type) ? s.type.join(" | ") : (s.type ?? "any");
  const bounds: string[] = [];
  if (s.minimum !== undefined && s.minimum > -Number.MAX_SAFE_INTEGER) bounds.push(`>= ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) bounds.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`<= ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) bounds.push(`< ${s.exclusiveMaximum}`);
  return bounds.length ? `${base} ${bounds.join(", ")}` : base;
}

function objectOf(s: JsonSchema): JsonSchema | undefined {
  if (s.properties) return s;
  return s.anyOf?.find((a) => a.properties);
}

function walk(s: JsonSchema, prefix: string, required: boolean, out: ConfigKeyDoc[]): void {
  const obj = objectOf(s);
  const hasDefault = s.default !== undefined;
  const isSection = obj !== undefined;
  if (prefix) {
    out.push({
      key: prefix,
      type: isSection ? "section" : typeOf(s),
      default: isSection
        ? ""
        : hasDefault
          ? JSON.stringify(s.default)
          : (coreDefault(prefix) ?? (required ? "required" : "unset")),
      description: s.description ?? "",
      section: isSection,
    });
  }
  if (obj?.properties) {
    for (const [name, child] of Object.entries(obj.properties)) {
      walk(child, prefix ? `${prefix}.${name}` : name, obj.required?.includes(name) ?? false, out);
    }
  } else if (s.type === "array" && s.items && objectOf(s.items)) {
    walk(s.items, `${prefix}[]`, false, out);
  }
}

/** Every key of the training config with its type, default and description, in schema order. */
export function configKeyDocs(): ConfigKeyDoc[] {
  const schema = z.toJSONSchema(RunConfigSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const out: ConfigKeyDoc[] = [];
  walk(schema, "", true, out);
  return out;
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** docs/config.md: the reference of every config key. */
export function configMarkdown(): string {
  const lines = [
    "# Training config reference",
    "",
    "Generated from the zod schema in `ts/src/config/schema.ts` by `npm run docs:config`; do not edit by hand",
    "(a test fails when this file and the schema disagree). YAML files may `extends: other.yaml`; the CLI's",
    "`--set key.path=value` overrides any key. Paths written `./x` or `../x` in a file (model, datasets, reward",
    "module) are relative to that file; other relative paths are relative to the working directory.",
    "`lgpo-run train --help` prints the same list.",
    "",
  ];
  for (const doc of configKeyDocs()) {
    if (doc.section) {
      lines.push(
        "",
        `## \`${doc.key}\``,
        "",
        doc.description,
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
      );
    } else {
      lines.push(`| \`${doc.key}\` | ${cell(doc.type)} | ${cell(doc.default)} | ${cell(doc.description)} |`);
    }
  }
  return `${lines
    .join("\n")
    .replace(/^\n+/, "")
    .replace(/\n{3,}/g, "\n\n")}\n`;
}

/** The key list of `lgpo-run train --help`: one line per key. */
export function configHelpText(): string {
  const docs = configKeyDocs().filter((d) => !d.section);
  const width = Math.max(...docs.map((d) => d.key.length));
  const rows = docs.map((d) => {
    const def = d.default === "unset" ? "" : ` [${d.default}]`;
    return `  ${d.key.padEnd(width)}  ${d.type}${def}\n  ${" ".repeat(width)}  ${d.description}`;
  });
  return `\nConfig keys (YAML; override any with --set key=value; full reference: docs/config.md):\n${rows.join("\n")}\n`;
}
