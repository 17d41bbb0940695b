/**
 * Prompt formats: TinyZero's Countdown prompts (the base-model completion form and the
 * instruct form through the checkpoint's chat template) and the Qwen2.5-Math prompt for math
 * (chat template with its system prompt, or plain text for checkpoints without a template).
 */
import { ConfigError } from "../config/load.js";
import type { Tokenizer } from "../sdk/tokenizer.js";
import type { CountdownTask, MathTask, Task } from "./tasks.js";

/** The prompt formats of `data.prompt.template`. */
export type PromptTemplate = "auto" | "tinyzero" | "chat" | "compact" | "qwen_math" | "plain";

/** TinyZero's instruction (examples/data_preprocess/countdown.py); numbers printed as a Python list. */
export function countdownInstruction(task: CountdownTask): string {
  return (
    `Using the numbers [${task.nums.join(", ")}], create an equation that equals ${task.target}. ` +
    "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. " +
    "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, " +
    "for example <answer> (1 + 2) / 3 </answer>."
  );
}

/** TinyZero's system prompt of the instruct variant (its wording kept as published). */
export const COUNTDOWN_SYSTEM =
  "You are a helpful assistant. You first thinks about the reasoning process in the mind and then provides the user with the answer.";

/** The start of the assistant's turn that TinyZero's prompts end with. */
export const COUNTDOWN_RESPONSE_PREFIX = "Let me solve this step by step.\n<think>";

/** The Qwen2.5-Math system prompt. */
export const QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}.";

/**
 * A short Countdown prompt for small models, where the prompt dominates the cost of a step: the
 * same task and think/answer response format as TinyZero's, in about a fifth of the tokens.
 */
function countdownCompact(task: CountdownTask): string {
  return `Numbers: [${task.nums.join(", ")}]. Target: ${task.target}. Use each number once with + - * /.\n<think>`;
}

function countdownBase(task: CountdownTask): string {
  return (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. " +
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n" +
    `User: ${countdownInstruction(task)}\nAssistant: ${COUNTDOWN_RESPONSE_PREFIX}`
  );
}

/** Resolves `auto` for a task and tokenizer: the chat form when the checkpoint has a chat template. */
export function resolveTemplate(template: PromptTemplate, task: Task["kind"], tokenizer: Tokenizer): PromptTemplate {
  const chat = tokenizer.chatTemplate !== undefined;
  if (template === "auto") {
    if (task === "countdown") return chat ? "chat" : "tinyzero";
    return chat ? "qwen_math" : "plain";
  }
  const valid = task === "countdown" ? ["tinyzero", "chat", "compact"] : ["qwen_math", "plain"];
  if (!valid.includes(template)) {
    throw new ConfigError(`data.prompt.template \`${template}\` is not a ${task} prompt (use ${valid.join(" or ")})`);
  }
  if ((template === "chat" || template === "qwen_math") && !chat) {
    throw new ConfigError(
      `data.prompt.template \`${template}\` needs a chat template, and the checkpoint's tokenizer has none`,
    );
  }
  return template;
}

/** Renders the prompt text of `task` (a resolved template; see {@link resolveTemplate}). */
export function renderPrompt(
  task: Task,
  template: PromptTemplate,
  tokenizer: Tokenizer,
  system: string | null = null,
): string {
  if (task.kind === "countdown") {
    if (template === "tinyzero") return countdownBase(task);
    if (template === "compact") return countdownCompact(task);
    const head = tokenizer.applyChatTemplate([
      { role: "system", content: system ?? COUNTDOWN_SYSTEM },
      { role: "user", content: countdownInstruction(task) },
    ]);
    return head + COUNTDOWN_RESPONSE_PREFIX;
  }
  return renderMath(task, template, tokenizer, system);
}

function renderMath(task: MathTask, template: PromptTemplate, tokenizer: Tokenizer, system: string | null): string {
  if (template === "plain") return `${task.problem}\n${system ?? QWEN_MATH_SYSTEM}\n`;
  return tokenizer.applyChatTemplate([
    { role: "system", content: system ?? QWEN_MATH_SYSTEM },
    { role: "user", content: task.problem },
  ]);
}
