"""Times Hugging Face TRL's GRPOTrainer the way `lgpo-run bench step` times lgpo's RL step.

Same random Qwen2 checkpoint directory, f32 on the CPU, `torch.set_num_threads(--threads)`, no
vLLM, beta 0 (no reference model), temperature 1 with no top-k/top-p, B prompts of exactly
`--prompt-len` tokens, G samples each, every completion forced to `--new-tokens` tokens
(min_new_tokens = max_completion_length), N_updates optimizer steps per rollout batch
(steps_per_generation = N_updates, gradient_accumulation_steps = 1, so each minibatch is one
optimizer step, as in lgpo), and lgpo's synthetic reward (1 when the completion's token ids sum
to an even number). The checkpoint has no tokenizer; `--tokenizer` gives Qwen2.5's (same
vocabulary), which TRL needs for its text prompts.

One RL step is N_updates consecutive optimizer steps, the first of which generates, scores and
(when N_updates > 1, as TRL needs them then) computes old log-probs for the whole batch. Phases
are timed by wrapping TRL's own methods: `generate_s` its generation call, `reward_s` its
reward call, `old_logprob_s` the no-grad log-prob pass inside `_generate_and_score_completions`;
`update_s` is the rest of the step (forward, backward, optimizer, TRL's bookkeeping). Prints one
JSON report on stdout:
  {"tool": "trl", "torch", "transformers", "trl", "threads",
   "results": [{"n_updates", "step_s", "phases": {...}, "spread": {...}}]}
"""

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time

import torch
import transformers
import trl
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

PHASES = ("generate_s", "reward_s", "old_logprob_s", "update_s")


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def word_prompts(tokenizer, rows, length, seed):
    """`rows` texts of exactly `length` tokens: words that are one token each with their leading space."""
    words = [
        t[1:]
        for t in tokenizer.get_vocab()
        if t.startswith("\u0120") and len(t) > 3 and t[1:].isascii() and t[1:].isalpha() and t[1:].islower()
    ]
    words.sort()
    rng = random.Random(seed)
    prompts = []
    for _ in range(rows):
        text = "".join(" " + rng.choice(words) for _ in range(length))
        n = len(tokenizer(text, add_special_tokens=False).input_ids)
        if n != length:
            sys.exit(f"trl_step: a prompt has {n} tokens, expected {length}")
        prompts.append(text)
    return prompts


def parity_reward(completion_ids=None, completions=None, **_):
    """lgpo's synthetic reward of random models: 1 when the completion's token ids sum to an even number."""
    return [1.0 if sum(ids) % 2 == 0 else 0.0 for ids in completion_ids]


class PhaseClock:
    """Accumulates seconds of wrapped trainer methods; `inside` marks `_generate_and_score_completions`."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.inside = False

    def wrap(self, obj, name, phase, only_inside=False, marks_inside=False):
        method = getattr(obj, name, None)
        if method is None:
            return False

        def timed(*args, **kwargs):
            if only_inside and not self.inside:
                return method(*args, **kwargs)
            if marks_inside:
                self.inside = True
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                if phase is not None:
                    self.seconds[phase] += time.perf_counter() - start
                if marks_inside:
                    self.inside = False

        setattr(obj, name, timed)
        return True

    def take(self):
        out, self.seconds = self.seconds, dict.fromkeys(PHASES, 0.0)
        return out


class StepClock(TrainerCallback):
    """Wall time of each group of N_updates optimizer steps (one rollout batch)."""

    def __init__(self, n_updates, phases):
        self.n = n_updates
        self.phases = phases
        self.steps = []
        self.start = None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step % self.n == 0:
            self.phases.take()
            self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.n == 0:
            step_s = time.perf_counter() - self.start
            phases = self.phases.take()
            phases["update_s"] = step_s - phases["generate_s"] - phases["reward_s"] - phases["old_logprob_s"]
            self.steps.append({"step_s": step_s, "phases": phases})
            print(
                f"trl_step: N_updates {self.n} step {len(self.steps)}: {step_s:.3f} s "
                + ", ".join(f"{k} {v:.3f}" for k, v in phases.items()),
                file=sys.stderr,
            )


def run(args, tokenizer, n_updates):
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.checkpoint, dtype=torch.float32)
    steps = 1 + args.repeats  # one warm-up rollout batch
    prompts = word_prompts(tokenizer, args.prompts * steps, args.prompt_len, args.seed)
    rows = args.prompts * args.group_size
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="lgpo-trl-"),
        use_cpu=True,
        bf16=False,
        fp16=False,
        seed=args.seed,
        learning_rate=1e-6,
        beta=0.0,
        num_iterations=1,
        loss_type="grpo",
        num_generations=args.group_size,
        per_device_train_batch_size=rows // n_updates,
        gradient_accumulation_steps=1,
        steps_per_generation=n_updates,
        max_prompt_length=args.prompt_len,
        max_completion_length=args.new_tokens,
        temperature=1.0,
        top_p=1.0,
        generation_kwargs={"min_new_tokens": args.new_tokens},
        max_steps=n_updates * steps,
        shuffle_dataset=False,
        logging_steps=10_000,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        mask_truncated_completions=False,
        gradient_checkpointing=False,  # TRL's default is on; lgpo's (trainer.activation_checkpointing) is off
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=parity_reward,
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
    )
    clock = PhaseClock()
    generation = next(
        (m for m in ("_generate_single_turn", "_generate") if clock.wrap(trainer, m, "generate_s")), None
    )
    rewards = clock.wrap(trainer, "_calculate_rewards", "reward_s")
    clock.wrap(trainer, "_generate_and_score_completions", None, marks_inside=True)
    old = clock.wrap(trainer, "_get_per_token_logps_and_entropies", "old_logprob_s", only_inside=True)
    if generation is None or not rewards or not old:
        sys.exit(f"trl_step: TRL {trl.__version__} lacks a method this script times; see its source")
    steps_clock = StepClock(n_updates, clock)
    trainer.add_callback(steps_clock)
    with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its log dicts; stdout is the report
        trainer.train()
    timed = steps_clock.steps[1:]
    return {
        "n_updates": n_updates,
        "step_s": statistics.median(s["step_s"] for s in timed),
        "phases": {p: statistics.median(s["phases"][p] for s in timed) for p in PHASES},
        "spread": {
            "step_s": spread([s["step_s"] for s in timed]),
            **{p: spread([s["phases"][p] for s in timed]) for p in PHASES},
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="Hugging Face checkpoint directory (random Qwen2)")
    parser.add_argument("--tokenizer", required=True, help="directory of Qwen2.5's tokenizer files")
    parser.add_argument("--threads", type=int, required=True, help="torch intra-op threads (lgpo's rayon threads)")
    parser.add_argument("--prompts", type=int, required=True, help="B: prompts per rollout batch")
    parser.add_argument("--group-size", type=int, required=True, help="G: samples per prompt")
    parser.add_argument("--prompt-len", type=int, required=True, help="tokens per prompt")
    parser.add_argument("--new-tokens", type=int, required=True, help="tokens per completion (forced)")
    parser.add_argument("--updates", required=True, help="N_updates values, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="timed rollout batches after one warm-up")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    results = [run(args, tokenizer, int(n)) for n in args.updates.split(",")]
    json.dump(
        {
            "tool": "trl",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "threads": torch.get_num_threads(),
            "results": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
