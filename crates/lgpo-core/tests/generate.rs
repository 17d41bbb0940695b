//! Batched generation against the training forward of the same model.

mod common;

use candle_core::{DType, Device, Tensor};
use lgpo_core::generate::{generate, generate_timed, Decoder, FinishReason, Generation, SamplingParams};
use lgpo_core::model::{Grad, Qwen2, Sequence};

fn model() -> Qwen2 {
    Qwen2::load(common::fixtures_dir().join("tiny_tied"), &Device::Cpu, DType::F32).unwrap()
}

fn prompts() -> Vec<Vec<u32>> {
    vec![vec![5, 17, 99], vec![42, 8, 8, 3, 77, 120, 64], vec![11], vec![90, 91]]
}

/// Next-token logits after `tokens`, from a full forward of the unpadded sequence.
fn full_forward_logits(model: &Qwen2, tokens: &[u32]) -> Vec<f32> {
    let t = tokens.len();
    let ids = Tensor::new(tokens, &Device::Cpu).unwrap().reshape((1, t)).unwrap();
    let mask = Tensor::ones((1, t), DType::U32, &Device::Cpu).unwrap();
    let positions = Tensor::arange(0u32, t as u32, &Device::Cpu).unwrap().reshape((1, t)).unwrap();
    let logits = model.logits(&ids, &mask, &positions, Grad::None).unwrap();
    logits.get(0).unwrap().get(t - 1).unwrap().to_vec1().unwrap()
}

fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0 as u32
}

fn greedy(max_new_tokens: usize, stop_token_ids: Vec<u32>) -> SamplingParams {
    SamplingParams { temperature: 0.0, max_new_tokens, stop_token_ids, ..SamplingParams::default() }
}

#[test]
fn greedy_equals_argmax_of_repeated_full_forwards() {
    let model = model();
    // Pick a stop token that one row produces early, so rows finish at different steps and the
    // batch is compacted mid-generation.
    let free = generate(&model, &prompts(), &greedy(10, vec![])).unwrap();
    let stop = free[1].tokens[3];
    let outputs = generate(&model, &prompts(), &greedy(10, vec![stop])).unwrap();
    assert!(outputs.iter().any(|o| o.finish_reason == FinishReason::Stop));
    for (prompt, out) in prompts().iter().zip(&outputs) {
        let mut seq = prompt.clone();
        for &token in &out.tokens {
            assert_eq!(token, argmax(&full_forward_logits(&model, &seq)), "after {seq:?}");
            seq.push(token);
        }
        match out.finish_reason {
            FinishReason::Stop => assert_eq!(*out.tokens.last().unwrap(), stop),
            FinishReason::Length => {
                assert_eq!(out.tokens.len(), 10);
                assert!(!out.tokens.contains(&stop));
            }
        }
    }
}

/// The sampling log-probs are those the training forward gives at the sampling temperature, so
/// `trainer.old_logprobs: generation` is exact at any temperature without top-k/top-p.
#[test]
fn sampling_logprobs_equal_training_logprobs_at_the_sampling_temperature() {
    let model = model();
    for temperature in [1.0f32, 0.7, 1.3] {
        let params = SamplingParams { max_new_tokens: 12, seed: 3, temperature, ..SamplingParams::default() };
        let outputs = generate(&model, &prompts(), &params).unwrap();
        let sequences: Vec<Sequence> = prompts()
            .into_iter()
            .zip(&outputs)
            .map(|(prompt, out)| Sequence { prompt, response: out.tokens.clone() })
            .collect();
        let scores = model.score_at(&sequences, 4, temperature as f64).unwrap();
        let at_one = model.score(&sequences, 4).unwrap();
        for ((out, score), plain) in outputs.iter().zip(&scores).zip(&at_one) {
            let err = out.logprobs.iter().zip(&score.logprobs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-4, "T {temperature}: sampling vs training log-probs differ by {err:e}");
            let apart = out.logprobs.iter().zip(&plain.logprobs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(temperature == 1.0 || apart > 1e-3, "T {temperature}: the temperature made no difference");
        }
    }
}

#[test]
fn same_seed_gives_same_tokens() {
    let model = model();
    let params =
        |seed| SamplingParams { max_new_tokens: 16, temperature: 1.2, top_p: 0.95, seed, ..SamplingParams::default() };
    let a = generate(&model, &prompts(), &params(7)).unwrap();
    let b = generate(&model, &prompts(), &params(7)).unwrap();
    let c = generate(&model, &prompts(), &params(8)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.iter().map(|g| &g.tokens).collect::<Vec<_>>(), c.iter().map(|g| &g.tokens).collect::<Vec<_>>());
}

/// A row's output depends on its prompt, the seed and its index only, not on the rows padded and
/// compacted beside it.
#[test]
fn rows_do_not_depend_on_their_neighbours() {
    let model = model();
    let params =
        SamplingParams { max_new_tokens: 16, stop_token_ids: vec![7, 30, 64], seed: 5, ..SamplingParams::default() };
    let mut other = prompts();
    other[1] = vec![3; 20];
    let a = generate(&model, &prompts(), &params).unwrap();
    let b = generate(&model, &other, &params).unwrap();
    for row in [0, 2, 3] {
        assert_eq!(a[row].tokens, b[row].tokens, "row {row}");
        let err = a[row].logprobs.iter().zip(&b[row].logprobs).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(err < 1e-5, "row {row}: log-probs differ by {err:e}");
    }
}

/// A list generated in chunks, each call told its first row, gives the rows of one call: the rule
/// that rollout chunks, sharded evals and data-parallel ranks rely on.
#[test]
fn chunks_with_first_row_equal_one_call() {
    let model = model();
    let params = SamplingParams { max_new_tokens: 12, seed: 11, samples_per_prompt: 3, ..SamplingParams::default() };
    let whole = generate(&model, &prompts(), &params).unwrap();
    let mut chunked = Vec::new();
    for (first, chunk) in [(0, &prompts()[..1]), (1, &prompts()[1..3]), (3, &prompts()[3..])] {
        let at = SamplingParams { first_row: first * 3, ..params.clone() };
        chunked.extend(generate(&model, chunk, &at).unwrap());
    }
    assert_eq!(whole.len(), chunked.len());
    for (row, (a, b)) in whole.iter().zip(&chunked).enumerate() {
        assert_eq!(a.tokens, b.tokens, "row {row}");
    }
    // Without the offset, the second chunk would repeat the first rows' streams.
    let unshifted = generate(&model, &prompts()[1..3], &params).unwrap();
    assert_ne!(
        unshifted.iter().map(|g| &g.tokens).collect::<Vec<_>>(),
        whole[3..9].iter().map(|g| &g.tokens).collect::<Vec<_>>()
    );
}

#[test]
fn kv_cache_decode_step_equals_full_forward() {
    let model = model();
    let mut sequences = prompts();
    let (mut decoder, mut logits) = Decoder::prefill(&model, &sequences, 8).unwrap();
    let check = |logits: &Tensor, sequences: &[Vec<u32>]| {
        let rows: Vec<Vec<f32>> = logits.to_vec2().unwrap();
        for (row, seq) in rows.iter().zip(sequences) {
            let full = full_forward_logits(&model, seq);
            let err = row.iter().zip(&full).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-4, "after {seq:?}: cached and full logits differ by {err:e}");
        }
    };
    check(&logits, &sequences);
    for step in 0..6u32 {
        if step == 3 {
            decoder.keep_rows(&[0, 2, 3]).unwrap(); // drop row 1 mid-way
            sequences.remove(1);
        }
        let tokens: Vec<u32> = (0..sequences.len() as u32).map(|r| (r * 31 + step * 7 + 1) % 128).collect();
        sequences.iter_mut().zip(&tokens).for_each(|(s, &t)| s.push(t));
        logits = decoder.step(&tokens).unwrap();
        check(&logits, &sequences);
    }
}

#[test]
fn top_k_one_is_greedy_with_probability_one() {
    let model = model();
    let greedy_out = generate(&model, &prompts(), &greedy(8, vec![])).unwrap();
    let params = SamplingParams { top_k: 1, max_new_tokens: 8, seed: 9, ..SamplingParams::default() };
    let top1 = generate(&model, &prompts(), &params).unwrap();
    for (g, t) in greedy_out.iter().zip(&top1) {
        assert_eq!(g.tokens, t.tokens);
        assert!(t.logprobs.iter().all(|&lp| lp == 0.0));
    }
}

#[test]
fn bad_arguments_are_rejected_by_name() {
    let model = model();
    let err =
        |prompts: Vec<Vec<u32>>, params: SamplingParams| generate(&model, &prompts, &params).unwrap_err().to_string();
    let ok = || SamplingParams { max_new_tokens: 4, ..SamplingParams::default() };
    assert!(err(vec![], ok()).contains("prompts"));
    assert!(err(vec![vec![1], vec![]], ok()).contains("prompts[1] is empty"));
    assert!(err(vec![vec![1, 128]], ok()).contains("prompts[0][1] = 128"));
    assert!(err(vec![vec![1]], SamplingParams { temperature: -1.0, ..ok() }).contains("temperature"));
    assert!(err(vec![vec![1]], SamplingParams { top_p: 0.0, ..ok() }).contains("top_p"));
    assert!(err(vec![vec![1]], SamplingParams { max_new_tokens: 0, ..ok() }).contains("max_new_tokens"));
    assert!(err(vec![vec![1]], SamplingParams { stop_token_ids: vec![500], ..ok() }).contains("stop_token_ids"));
    assert!(err(vec![vec![1; 100]], SamplingParams { max_new_tokens: 29, ..ok() }).contains("max_position_embeddings"));
    assert!(err(vec![vec![1]], SamplingParams { samples_per_prompt: 0, ..ok() }).contains("samples_per_prompt"));
    assert!(err(vec![vec![1]], SamplingParams { vocab_limit: Some(0), ..ok() }).contains("vocab_limit"));
    assert!(err(vec![vec![1]], SamplingParams { vocab_limit: Some(129), ..ok() }).contains("vocab_limit"));
}

fn log_softmax(logits: &[f32], temperature: f64) -> Vec<f64> {
    let z: Vec<f64> = logits.iter().map(|&l| l as f64 / temperature).collect();
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    z.iter().map(|v| v - lse).collect()
}

/// Log-probs and entropies of every generated token against a direct computation from full
/// forwards: softmax(logits[..limit] / T).
fn check_against_full_forwards(model: &Qwen2, outputs: &[Generation], params: &SamplingParams) {
    let limit = params.vocab_limit.unwrap_or(model.config().vocab_size);
    let n = params.samples_per_prompt;
    for (r, out) in outputs.iter().enumerate() {
        let mut seq = prompts()[r / n].clone();
        for (j, &token) in out.tokens.iter().enumerate() {
            let logits = full_forward_logits(model, &seq);
            let lp = log_softmax(&logits[..limit], params.temperature as f64);
            let h = -lp.iter().map(|v| v.exp() * v).sum::<f64>();
            assert!((token as usize) < limit, "row {r} sampled {token}, not below the limit {limit}");
            assert!((out.logprobs[j] as f64 - lp[token as usize]).abs() < 1e-4, "row {r} token {j}: log-prob");
            assert!(
                (out.entropies[j] as f64 - h).abs() < 1e-4,
                "row {r} token {j}: entropy {} vs {h}",
                out.entropies[j]
            );
            seq.push(token);
        }
    }
}

#[test]
fn logprobs_and_entropies_equal_a_direct_computation() {
    let model = model();
    for params in [
        SamplingParams { max_new_tokens: 6, seed: 2, temperature: 0.7, ..SamplingParams::default() },
        SamplingParams { max_new_tokens: 6, seed: 3, vocab_limit: Some(100), ..SamplingParams::default() },
        SamplingParams { max_new_tokens: 6, seed: 4, samples_per_prompt: 2, ..SamplingParams::default() },
    ] {
        let outputs = generate(&model, &prompts(), &params).unwrap();
        assert_eq!(outputs.len(), prompts().len() * params.samples_per_prompt);
        check_against_full_forwards(&model, &outputs, &params);
    }
}

/// `generate(prompts, n)` is `generate(each prompt repeated n times, n = 1)`, token for token: row
/// `i * n + k` draws from stream `i * n + k` either way, and each prompt is prefilled once.
#[test]
fn groups_equal_repeated_prompts() {
    let model = model();
    let n = 3;
    let repeated: Vec<Vec<u32>> = prompts().into_iter().flat_map(|p| std::iter::repeat_n(p, n)).collect();
    for temperature in [1.0, 0.0] {
        // Stop ids that some rows produce, so rows finish at different steps.
        let params = SamplingParams {
            max_new_tokens: 12,
            temperature,
            stop_token_ids: vec![7, 30, 64],
            seed: 5,
            ..SamplingParams::default()
        };
        let grouped =
            generate(&model, &prompts(), &SamplingParams { samples_per_prompt: n, ..params.clone() }).unwrap();
        let flat = generate(&model, &repeated, &params).unwrap();
        assert_eq!(grouped, flat, "temperature {temperature}");
        if temperature > 0.0 {
            let first: Vec<&Vec<u32>> = grouped[..n].iter().map(|g| &g.tokens).collect();
            assert!(first.windows(2).any(|w| w[0] != w[1]), "samples of one prompt should differ: {first:?}");
        }
    }
    // One prefill of the distinct prompts, then copies of their cache rows.
    let (_, timings) = generate_timed(
        &model,
        &prompts(),
        &SamplingParams { samples_per_prompt: n, max_new_tokens: 2, ..SamplingParams::default() },
    )
    .unwrap();
    assert!(timings.replicate > 0.0 && timings.prefill > 0.0);
}

/// Rows 120.. of the head are made to dominate every logit row (some row wins whatever the sign of
/// the hidden state); with `vocab_limit` 120 they are never produced, greedy included.
#[test]
fn vocab_limit_masks_a_head_that_prefers_padded_ids() {
    let model = model();
    let (_, head) = model.params().iter().find(|(name, _)| name == "model.embed_tokens.weight").unwrap();
    let (v, d) = head.as_tensor().dims2().unwrap();
    let mut w: Vec<f32> = head.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    for (k, id) in (120..v).enumerate() {
        let row = &mut w[id * d..(id + 1) * d];
        row.fill(0.0);
        row[k % d] = if k % 2 == 0 { 60.0 } else { -60.0 };
    }
    head.set(&Tensor::from_vec(w, (v, d), &Device::Cpu).unwrap()).unwrap();
    let params = SamplingParams { max_new_tokens: 8, seed: 1, ..SamplingParams::default() };
    let free = generate(&model, &prompts(), &params).unwrap();
    let padded = free.iter().flat_map(|g| &g.tokens).filter(|&&t| t >= 120).count();
    let total = free.iter().map(|g| g.tokens.len()).sum::<usize>();
    assert!(padded * 10 >= total * 9, "the head should prefer ids >= 120: {padded} of {total}");
    for temperature in [1.0, 0.0] {
        let masked = SamplingParams { vocab_limit: Some(120), temperature, ..params.clone() };
        let outputs = generate(&model, &prompts(), &masked).unwrap();
        assert!(outputs.iter().flat_map(|g| &g.tokens).all(|&t| t < 120), "T {temperature}: {outputs:?}");
        if temperature > 0.0 {
            check_against_full_forwards(&model, &outputs, &masked);
        }
    }
}

#[test]
fn replicated_rows_decode_like_their_source() {
    let model = model();
    let (mut decoder, _) = Decoder::prefill(&model, &prompts(), 4).unwrap();
    decoder.select_rows(&[2, 0, 0, 3, 2]).unwrap();
    let mut sequences: Vec<Vec<u32>> = [2, 0, 0, 3, 2].iter().map(|&i| prompts()[i].clone()).collect();
    let tokens = [4u32, 9, 10, 11, 12];
    sequences.iter_mut().zip(tokens).for_each(|(s, t)| s.push(t));
    let rows: Vec<Vec<f32>> = decoder.step(&tokens).unwrap().to_vec2().unwrap();
    for (row, seq) in rows.iter().zip(&sequences) {
        let full = full_forward_logits(&model, seq);
        let err = row.iter().zip(&full).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 1e-4, "after {seq:?}: {err:e}");
    }
    assert!(decoder.select_rows(&[5]).is_err());
}
