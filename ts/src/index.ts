/**
 * lgpo: the TypeScript SDK over the Rust core.
 *
 * - `rewards`: Countdown and math verifiers, custom rewards, a registry by name.
 */
export { VERSION } from "./version.js";

export * from "./rewards/index.js";
export * from "./data/countdown.js";
