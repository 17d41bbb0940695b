/**
 * Worker entry of the math verifier pool: runs `verifyMath` / `checkEquivalent` on request. Loaded by
 * {@link MathVerifierPool} from the compiled package (see pool.ts for how the script is found).
 */

import { parentPort } from "node:worker_threads";
import { checkEquivalent, verifyMath, type MathVerifyOptions } from "./verify.js";

/** A request to the worker. */
export type MathWorkerRequest =
  | { op: "verify"; gold: string; response: string; options: MathVerifyOptions }
  | { op: "equivalent"; gold: string; pred: string; options: MathVerifyOptions };

parentPort?.on("message", (msg: { id: number; request: MathWorkerRequest }) => {
  const { id, request } = msg;
  try {
    const value =
      request.op === "verify"
        ? verifyMath(request.gold, request.response, request.options)
        : checkEquivalent(request.gold, request.pred, request.options);
    parentPort!.postMessage({ id, ok: true, value });
  } catch (e) {
    parentPort!.postMessage({ id, ok: false, message: e instanceof Error ? e.message : String(e) });
  }
});

// Loaded and listening: the pool may send tasks (their timeouts start now, not at start-up).
parentPort?.postMessage({ ready: true });
