//! The Qwen2 tokenizer against transformers' Qwen2TokenizerFast (golden ids in
//! `tests/fixtures/tokenizer_cases.json`, from `scripts/fixtures/tokenizer_cases.py`), plus
//! round-trips and error paths. Tests that need the shared Qwen2.5 tokenizer files skip when they
//! are absent.

mod common;

use std::path::{Path, PathBuf};

use lgpo_core::tokenizer::Tokenizer;
use lgpo_core::Error;
use serde_json::Value;

/// The shared Qwen2.5 tokenizer directory, or None (test skipped).
fn qwen_dir() -> Option<PathBuf> {
    let vocab = common::data_file("qwen2.5/tokenizer/vocab.json")?;
    Some(vocab.parent().unwrap().to_path_buf())
}

fn qwen() -> Option<Tokenizer> {
    Some(Tokenizer::from_dir(qwen_dir()?).expect("the Qwen2.5 tokenizer loads"))
}

fn fixture() -> Value {
    let path = common::fixtures_dir().join("tokenizer_cases.json");
    let text = std::fs::read_to_string(&path).expect("tokenizer_cases.json is committed");
    serde_json::from_str(&text).expect("tokenizer_cases.json parses")
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lgpo-tokenizer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn special_tokens_have_qwen_ids() {
    let Some(tok) = qwen() else { return };
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(151643));
    assert_eq!(tok.token_to_id("<|im_start|>"), Some(151644));
    assert_eq!(tok.token_to_id("<|im_end|>"), Some(151645));
    assert_eq!(tok.id_to_token(151645).as_deref(), Some("<|im_end|>"));
    assert_eq!(tok.vocab_size(), 151_665);
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    assert_eq!(tok.pad_token(), Some("<|endoftext|>"));
    assert!(tok.chat_template().unwrap().contains("<|im_start|>"));

    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>").unwrap();
    assert_eq!(ids[0], 151644);
    assert!(ids.contains(&151645));
    assert_eq!(tok.decode(&ids, true).unwrap(), "user\nhi");
}

#[test]
fn encode_decode_round_trips() {
    let Some(tok) = qwen() else { return };
    let texts = [
        "12345 + 678 = 13023",
        "\\frac{1}{2} + \\sqrt{x^2}",
        "$\\boxed{42}$",
        "你好，世界",
        "🚀🔥 ok",
        "  two leading, three trailing   ",
        "\n\nline\r\n\tindented\n\n\n",
        "Mixed: 答案是 $\\frac{3}{4}$ 🎉 don't\n<|im_end|>",
    ];
    for text in texts {
        let ids = tok.encode(text).unwrap();
        assert!(!ids.is_empty(), "{text:?}");
        assert_eq!(tok.decode(&ids, false).unwrap(), text, "ids {ids:?}");
    }
    let batch = tok.encode_batch(&texts).unwrap();
    let refs: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
    assert_eq!(tok.decode_batch(&refs, false).unwrap(), texts);
}

#[test]
fn matches_transformers_encodings() {
    let Some(tok) = qwen() else { return };
    let fixture = fixture();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let ids = tok.encode(text).unwrap();
        assert_eq!(ids, expected, "case {name}: {text:?}");
        let decoded = tok.decode(&ids, false).unwrap();
        assert_eq!(decoded, case["decoded"].as_str().unwrap(), "case {name}");
        if name != "nfc" {
            assert_eq!(decoded, text, "case {name}");
        }
        let skipped = tok.decode(&ids, true).unwrap();
        assert_eq!(skipped, case["decoded_skip_special"].as_str().unwrap(), "case {name}");
    }
    assert_eq!(tok.vocab_size() as u64, fixture["vocab_size"].as_u64().unwrap());
    assert_eq!(tok.eos_token(), fixture["eos_token"].as_str());
    assert_eq!(tok.pad_token(), fixture["pad_token"].as_str());
}

/// The tokenizer built from vocab.json + merges.txt has transformers' pipeline: same normalizer,
/// pre-tokenizer, post-processor, decoder, BPE options and added tokens.
#[test]
fn pipeline_matches_transformers() {
    let Some(tok) = qwen() else { return };
    let fixture = fixture();
    let expected = &fixture["pipeline"];
    let ours: Value = serde_json::from_str(&tok.inner().to_string(false).unwrap()).unwrap();
    for key in ["normalizer", "pre_tokenizer", "post_processor", "decoder", "added_tokens"] {
        assert_eq!(ours[key], expected[key], "{key}");
    }
    for (key, value) in expected["model"].as_object().unwrap() {
        assert_eq!(&ours["model"][key], value, "model.{key}");
    }
}

#[test]
fn saves_and_loads_tokenizer_json() {
    let Some(dir) = qwen_dir() else { return };
    let built = Tokenizer::from_dir(&dir).unwrap();
    let tmp = TempDir::new("json");
    let json_path = tmp.path().join("tokenizer.json");
    built.save_json(&json_path).unwrap();
    assert!(!tmp.path().join("tokenizer.json.tmp").exists());
    let missing_dir = tmp.path().join("no/such/dir/tokenizer.json");
    let err = built.save_json(&missing_dir).unwrap_err().to_string();
    assert!(err.contains("no/such/dir/tokenizer.json"), "{err}");

    let from_file = Tokenizer::from_file(&json_path).unwrap();
    assert_eq!(from_file.chat_template(), None);
    // A directory with only tokenizer.json: no config needed.
    let from_dir = Tokenizer::from_dir(tmp.path()).unwrap();
    assert_eq!(from_dir.eos_token(), None);
    let text = "<|im_start|>user\n$\\boxed{42}$ 你好 🚀<|im_end|>";
    let ids = built.encode(text).unwrap();
    assert_eq!(from_file.encode(text).unwrap(), ids);
    assert_eq!(from_dir.encode(text).unwrap(), ids);
    assert_eq!(from_dir.vocab_size(), built.vocab_size());
}

#[test]
fn missing_dir_is_an_error_naming_it() {
    let missing = std::env::temp_dir().join("lgpo-tokenizer-no-such-dir");
    let err = Tokenizer::from_dir(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("lgpo-tokenizer-no-such-dir"), "{err}");

    let err = Tokenizer::from_file(missing.join("tokenizer.json")).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn missing_or_corrupt_files_name_the_file() {
    let tmp = TempDir::new("corrupt");
    let dir = tmp.path();
    // No tokenizer.json and no tokenizer_config.json.
    let err = Tokenizer::from_dir(dir).unwrap_err();
    assert!(err.to_string().contains("tokenizer_config.json"), "{err}");

    std::fs::write(dir.join("tokenizer_config.json"), r#"{"eos_token": "<|im_end|>"}"#).unwrap();
    std::fs::write(dir.join("merges.txt"), "#version: 0.2\na b\n").unwrap();
    std::fs::write(dir.join("vocab.json"), r#"{"a": 0, "b": 1, "ab": "#).unwrap();
    let err = Tokenizer::from_dir(dir).unwrap_err();
    assert!(matches!(err, Error::Tokenizer(_)), "{err:?}");
    assert!(err.to_string().contains("vocab.json"), "{err}");

    std::fs::write(dir.join("vocab.json"), r#"{"a": 0, "b": 1}"#).unwrap();
    let err = Tokenizer::from_dir(dir).unwrap_err();
    assert!(err.to_string().contains("merges.txt"), "{err}");

    std::fs::write(dir.join("merges.txt"), "#version: 0.2\na b c\n").unwrap();
    let err = Tokenizer::from_dir(dir).unwrap_err();
    assert!(err.to_string().contains("merges.txt") && err.to_string().contains("line 2"), "{err}");

    std::fs::write(dir.join("tokenizer_config.json"), "{not json").unwrap();
    let err = Tokenizer::from_dir(dir).unwrap_err();
    assert!(err.to_string().contains("tokenizer_config.json"), "{err}");

    std::fs::write(dir.join("tokenizer.json"), "[1, 2]").unwrap();
    let err = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn added_token_at_the_wrong_id_is_an_error() {
    let tmp = TempDir::new("gap");
    let dir = tmp.path();
    std::fs::write(dir.join("vocab.json"), r#"{"a": 0, "b": 1, "ab": 2}"#).unwrap();
    std::fs::write(dir.join("merges.txt"), "#version: 0.2\na b\n").unwrap();
    let config = |id: u32| {
        format!(
            r#"{{"added_tokens_decoder": {{"{id}": {{"content": "<|end|>", "special": true,
                "lstrip": false, "rstrip": false, "normalized": false, "single_word": false}}}},
                "eos_token": "<|end|>"}}"#
        )
    };
    // Right after the vocabulary: accepted.
    std::fs::write(dir.join("tokenizer_config.json"), config(3)).unwrap();
    let tok = Tokenizer::from_dir(dir).unwrap();
    assert_eq!(tok.encode("ab<|end|>a").unwrap(), [2, 3, 0]);
    assert_eq!(tok.decode(&[2, 3, 0], true).unwrap(), "aba");
    assert_eq!(tok.vocab_size(), 4);

    // A gap: rejected, naming the config and the token.
    std::fs::write(dir.join("tokenizer_config.json"), config(7)).unwrap();
    let err = Tokenizer::from_dir(dir).unwrap_err().to_string();
    assert!(err.contains("tokenizer_config.json") && err.contains("<|end|>"), "{err}");
}

#[test]
fn decoding_an_unknown_id_is_an_error_naming_it() {
    let Some(tok) = qwen() else { return };
    for id in [151_665, 151_935, u32::MAX] {
        let err = tok.decode(&[9707, id], false).unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err:?}");
        assert!(err.to_string().contains(&id.to_string()), "{err}");
    }
    assert_eq!(tok.decode(&[], false).unwrap(), "");
}

#[test]
fn model_output_decodes_leniently_and_user_input_strictly() {
    let Some(tok) = qwen() else { return };
    let hi = tok.encode("hi there").unwrap();
    // 151917: a row of Qwen2.5's padded embedding table (151,665 ..= 151,935) that no token has.
    let sampled: Vec<u32> = [&[151_917][..], &hi, &[151_665, 151_643]].concat();
    let (text, unknown) = tok.decode_lenient(&sampled, true).unwrap();
    assert_eq!((text.as_str(), unknown), ("hi there", 2));
    assert_eq!(tok.decode_lenient(&hi, false).unwrap(), (tok.decode(&hi, false).unwrap(), 0));
    let err = tok.decode(&sampled, true).unwrap_err().to_string();
    assert!(err.contains("151917"), "{err}");
}
