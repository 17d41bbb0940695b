/**
 * Tasks: dataset records turned into what prompts and rewards need. Countdown rows hold a target
 * and numbers (the raw Countdown-Tasks-3to4 layout, or TinyZero's preprocessed one); math rows hold
 * a problem and a gold answer under configurable field names.
 */
import { goldAnswerOf } from "../rewards/builtin.js";
import { type BadLines, DatasetError, type SourcedRecord } from "./records.js";

/** A Countdown task: combine `nums` with + - * / to reach `target`. */
export interface CountdownTask {
  kind: "countdown";
  target: number;
  nums: number[];
}

/** A math problem with its gold answer (LaTeX). */
export interface MathTask {
  kind: "math";
  problem: string;
  answer: string;
}

export type Task = CountdownTask | MathTask;

/** The row a reward verifier reads: `{ target, nums }` or `{ answer }`. */
export function rewardReference(task: Task): Record<string, unknown> {
  return task.kind === "countdown" ? { target: task.target, nums: task.nums } : { answer: task.answer };
}

/** Field names of math records; null tries the usual names. */
export interface MathFields {
  problem: string | null;
  answer: string | null;
}

const PROBLEM_FIELDS = ["problem", "question"];
const ANSWER_FIELDS = ["answer", "golden_answer", "final_answer", "expected_answer"];

function pick(row: Record<string, unknown>, field: string | null, candidates: string[]): [string, unknown] {
  if (field !== null) return [field, row[field]];
  const found = candidates.find((c) => row[c] !== undefined && row[c] !== null);
  return [found ?? candidates.join("/"), found === undefined ? undefined : row[found]];
}

function countdownTask(row: Record<string, unknown>): CountdownTask | string {
  const truth = ((row.reward_model as Record<string, unknown> | undefined)?.ground_truth ?? {}) as Record<
    string,
    unknown
  >;
  const target = row.target ?? truth.target;
  const nums = row.nums ?? row.numbers ?? truth.numbers ?? truth.nums;
  if (typeof target !== "number" || !Number.isSafeInteger(target)) {
    return `field "target" must be an integer, got ${JSON.stringify(target)}`;
  }
  if (!Array.isArray(nums) || nums.length === 0 || !nums.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    return `field "nums" must be a non-empty list of non-negative integers, got ${JSON.stringify(nums)}`;
  }
  return { kind: "countdown", target, nums: nums as number[] };
}

function mathTask(row: Record<string, unknown>, fields: MathFields): MathTask | string {
  const [problemField, problem] = pick(row, fields.problem, PROBLEM_FIELDS);
  const [answerField, answerValue] = pick(row, fields.answer, ANSWER_FIELDS);
  if (typeof problem !== "string" || problem.trim() === "") {
    return `field "${problemField}" must be a non-empty string, got ${JSON.stringify(problem)?.slice(0, 60)}`;
  }
  const answer = goldAnswerOf(answerValue);
  if (answer === undefined || answer.trim() === "") {
    return `field "${answerField}" must be a string or a list of strings, got ${JSON.stringify(answerValue)?.slice(0, 60)}`;
  }
  return { kind: "math", problem, answer };
}

/** Tasks of the records and the count of records dropped as malformed (with `skip`). */
export interface TasksResult {
  tasks: Task[];
  skipped: number;
  firstProblem?: string;
}

/** Turns records into tasks; a malformed one stops with its file and line (`error`) or is counted (`skip`). */
export function recordsToTasks(
  records: readonly SourcedRecord[],
  task: Task["kind"],
  fields: MathFields,
  badLines: BadLines,
): TasksResult {
  const tasks: Task[] = [];
  let skipped = 0;
  let firstProblem: string | undefined;
  for (const r of records) {
    const t = task === "countdown" ? countdownTask(r.value) : mathTask(r.value, fields);
    if (typeof t !== "string") {
      tasks.push(t);
      continue;
    }
    const where = `${r.file}:${r.line}: ${t}`;
    if (badLines === "error") throw new DatasetError(where);
    skipped++;
    firstProblem ??= where;
  }
  if (tasks.length === 0) throw new DatasetError(`no usable ${task} records (${firstProblem ?? "empty"})`);
  return { tasks, skipped, ...(firstProblem ? { firstProblem } : {}) };
}
