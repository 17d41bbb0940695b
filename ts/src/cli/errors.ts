/** Exit codes of `lgpo-run`: 0 success, 2 bad arguments or input, 1 internal failure. */
import { HubError } from "../hub/errors.js";

/** Bad arguments or input: exit code 2 with a one-line message. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): 1 | 2 {
  if (error instanceof HubError) return error.badInput ? 2 : 1;
  if (error instanceof UsageError || error instanceof TypeError) return 2;
  const e = error as { code?: unknown; name?: unknown };
  // Errors of the Rust core carry napi's status: bad input, config or checkpoint content.
  if (e?.code === "InvalidArg" || e?.name === "CommanderError") return 2;
  if (e?.name === "VerifyInputError" || e?.name === "ConfigError" || e?.name === "DatasetError") return 2;
  if (typeof e?.code === "string" && e.code.startsWith("ENOENT")) return 2;
  return 1;
}

/** The first line of an error's message, for the terminal. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}
