"""Times transformers' `model.generate` the way `lgpo-run bench generate` times lgpo.

Same checkpoint directory, same prompt ids (a JSON file written by run.mjs), sampling at
temperature 1 with no top-k/top-p, every row forced to `--new-tokens` new tokens (no eos, and
min_new_tokens = max_new_tokens), f32, `torch.set_num_threads(--threads)`. Prints one JSON report
on stdout:
  {"tool": "transformers", "torch": ..., "transformers": ..., "threads": N,
   "results": [{"rows": B, "seconds": [...], "tokens_per_second": {"median", "min", "max"}}]}

Input JSON: {"new_tokens": N, "repeats": R, "seed": S, "sets": [{"rows": B, "prompts": [[id, ...], ...]}]}
"""

import argparse
import json
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, GenerationConfig


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="Hugging Face checkpoint directory")
    parser.add_argument("--prompts", required=True, help="JSON file of prompt sets (see the module docstring)")
    parser.add_argument("--threads", type=int, required=True, help="torch intra-op threads (lgpo's rayon threads)")
    args = parser.parse_args()

    with open(args.prompts) as f:
        spec = json.load(f)
    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.checkpoint, dtype=torch.float32)
    model.eval()
    new_tokens = spec["new_tokens"]
    config = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        eos_token_id=None,
        bos_token_id=None,
        pad_token_id=0,
        use_cache=True,
    )

    results = []
    for prompt_set in spec["sets"]:
        ids = torch.tensor(prompt_set["prompts"], dtype=torch.long)
        mask = torch.ones_like(ids)

        def run():
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
            if out.shape[1] != ids.shape[1] + new_tokens:
                sys.exit(f"hf_generate: generated {out.shape[1] - ids.shape[1]} tokens, expected {new_tokens}")

        torch.manual_seed(spec.get("seed", 0))
        run()  # warm-up
        seconds = []
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
        rows = ids.shape[0]
        results.append(
            {
                "rows": rows,
                "seconds": seconds,
                "tokens_per_second": spread([rows * new_tokens / s for s in seconds]),
            }
        )
        print(f"hf_generate: rows {rows}: {results[-1]['tokens_per_second']['median']:.0f} tokens/s", file=sys.stderr)

    report = {
        "tool": "transformers",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "results": results,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
