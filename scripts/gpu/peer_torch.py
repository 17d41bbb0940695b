#!/usr/bin/env python3
"""The PyTorch + transformers peer of `lgpo-gpu bench`, on the same GPU and the same work.

Training step: the same random-token batch (batch x (prompt + response) tokens, no padding),
the same micro-batching, the loss -sum(A * log p(response)) / tokens with log-probs in f32 from
the logits of the response positions only (`logits_to_keep`), global-norm clipping at 1 and one
fused AdamW step. Mixed precision as lgpo does it: f32 master weights and optimizer state,
bf16 compute (autocast), SDPA attention (transformers' default).

Generation: `model.generate` with bf16 weights, `gen_samples` samples of each of `gen_prompts`
random prompts in one batch, temperature 1, no top-k / top-p, exactly `gen_tokens` new tokens
(min_new_tokens), as `lgpo-gpu bench` generates them. A short run first estimates the time per
token; the full run is cut to what fits `--gen-budget` seconds.

Writes JSON (`--out`): versions, step times, tokens/s, peak memory, generation tokens/s. The
model FLOPs (hence MFU) come from lgpo-gpu's report, so both sides use one formula.

Usage: peer_torch.py --config CONFIG.json [--device cuda] [--batch 64 ...] [--out peer.json]
(`lgpo-gpu config --model qwen2.5-0.5b` prints the config; scripts/gpu/check.sh runs this.)
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import transformers
from transformers import Qwen2Config, Qwen2ForCausalLM


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="config.json of the shape (lgpo-gpu config)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--micro-batch", type=int, default=16)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--response", type=int, default=384)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--gen-prompts", type=int, default=64)
    p.add_argument("--gen-samples", type=int, default=8)
    p.add_argument("--gen-prompt-len", type=int, default=64)
    p.add_argument("--gen-tokens", type=int, default=512)
    p.add_argument("--gen-budget", type=float, default=120.0)
    p.add_argument("--out")
    return p.parse_args(argv)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device, fn):
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


def train(args, model, device, compute_dtype):
    vocab = min(model.config.vocab_size, 151643)
    total = args.prompt + args.response
    gen = torch.Generator(device="cpu").manual_seed(1)
    ids = torch.randint(0, vocab, (args.batch, total), generator=gen).to(device)
    advantages = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(args.batch)], device=device)
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.01, fused=fused)
    tokens = args.batch * args.response

    def step():
        optimizer.zero_grad(set_to_none=True)
        for first in range(0, args.batch, args.micro_batch):
            x = ids[first : first + args.micro_batch]
            with torch.autocast(device.type, dtype=compute_dtype, enabled=compute_dtype != torch.float32):
                # Positions prompt-1 .. total-2 predict the response tokens.
                logits = model(input_ids=x, logits_to_keep=args.response + 1).logits[:, :-1]
            logp = torch.log_softmax(logits.float(), dim=-1)
            logp = logp.gather(-1, x[:, args.prompt :].unsqueeze(-1)).squeeze(-1)
            a = advantages[first : first + args.micro_batch].unsqueeze(1)
            loss = -(a * logp).sum() / tokens
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    model.train()
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(args.steps + 1):  # step 0 warms up
        seconds, _ = timed(device, step)
        print(f"peer_torch: training step {i}: {seconds:.3f} s", file=sys.stderr)
        if i > 0:
            times.append(seconds)
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    del optimizer
    return {
        "step_seconds": times,
        "median_seconds": median,
        "tokens_per_second": args.batch * total / median,
        "peak_memory_bytes": peak,
    }


def generation(args, model, device):
    vocab = min(model.config.vocab_size, 151643)
    gen = torch.Generator(device="cpu").manual_seed(2)
    prompts = torch.randint(0, vocab, (args.gen_prompts, args.gen_prompt_len), generator=gen).to(device)
    rows = args.gen_prompts * args.gen_samples
    model.eval()

    def run(new_tokens):
        with torch.no_grad():
            out = model.generate(
                input_ids=prompts,
                attention_mask=torch.ones_like(prompts),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                num_return_sequences=args.gen_samples,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=0,
            )
        assert out.shape == (rows, args.gen_prompt_len + new_tokens), out.shape
        return out

    probe = min(args.gen_tokens, 8)
    probe_seconds, _ = timed(device, lambda: run(probe))
    per_token = probe_seconds / probe
    if per_token * args.gen_tokens <= args.gen_budget:
        tokens = args.gen_tokens
    else:
        tokens = max(probe, min(args.gen_tokens, int(args.gen_budget / per_token)))
    seconds = probe_seconds if tokens == probe else timed(device, lambda: run(tokens))[0]
    print(f"peer_torch: generation {rows} rows x {tokens} tokens: {seconds:.2f} s", file=sys.stderr)
    return {
        "rows": rows,
        "new_tokens_per_row": tokens,
        "seconds": seconds,
        "tokens_per_second": rows * tokens / seconds,
        "complete": tokens == args.gen_tokens,
    }


def main(argv):
    args = parse_args(argv)
    device = torch.device(args.device)
    compute_dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    with open(args.config) as f:
        config = Qwen2Config(**json.load(f))
    torch.manual_seed(0)
    with device:
        model = Qwen2ForCausalLM(config)  # f32 parameters, transformers' default attention (SDPA)
    report = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "attention": model.config._attn_implementation,
        "options": vars(args),
        "train": train(args, model, device, compute_dtype),
    }
    print(f"peer_torch: training step {report['train']['median_seconds']:.3f} s", file=sys.stderr)
    if args.gen_prompts > 0:
        model.to(compute_dtype)
        report["generation"] = generation(args, model, device)
    text = json.dumps(report, indent=2)
    if args.out:
        tmp = f"{args.out}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.out)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
