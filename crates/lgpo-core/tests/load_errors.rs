//! Bad checkpoints and configs give errors that name the file and the tensor or field; never a
//! panic.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use lgpo_core::model::Qwen2;
use lgpo_core::Error;

fn fixture_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(common::fixtures_dir().join("tiny_tied/model.safetensors"), &Device::Cpu).unwrap()
}

fn fixture_config() -> serde_json::Value {
    let text = std::fs::read_to_string(common::fixtures_dir().join("tiny_tied/config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A checkpoint directory with `config` and `tensors` in `model.safetensors`.
fn write_checkpoint(dir: &Path, config: &serde_json::Value, tensors: &HashMap<String, Tensor>) {
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(config).unwrap()).unwrap();
    candle_core::safetensors::save(tensors, dir.join("model.safetensors")).unwrap();
}

fn load_err(dir: &Path) -> (Error, String) {
    let err = match Qwen2::load(dir, &Device::Cpu, DType::F32) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e,
    };
    let msg = err.to_string();
    (err, msg)
}

#[test]
fn missing_tensor_names_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    tensors.remove("model.layers.1.self_attn.k_proj.bias");
    write_checkpoint(dir.path(), &fixture_config(), &tensors);
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, Error::MissingTensor { .. }), "{msg}");
    assert!(msg.contains("model.safetensors") && msg.contains("model.layers.1.self_attn.k_proj.bias"), "{msg}");
}

#[test]
fn untied_config_needs_lm_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fixture_config();
    config["tie_word_embeddings"] = false.into();
    write_checkpoint(dir.path(), &config, &fixture_tensors());
    let (_, msg) = load_err(dir.path());
    assert!(msg.contains("lm_head.weight") && msg.contains("missing"), "{msg}");
}

#[test]
fn wrong_shape_names_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    tensors.insert("model.norm.weight".into(), Tensor::ones(63, DType::F32, &Device::Cpu).unwrap());
    write_checkpoint(dir.path(), &fixture_config(), &tensors);
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, Error::TensorShape { .. }), "{msg}");
    assert!(msg.contains("model.norm.weight") && msg.contains("[63]") && msg.contains("[64]"), "{msg}");
}

#[test]
fn unsupported_dtype_names_tensor_and_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    let t = tensors["model.norm.weight"].to_dtype(DType::F64).unwrap();
    tensors.insert("model.norm.weight".into(), t);
    write_checkpoint(dir.path(), &fixture_config(), &tensors);
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, Error::TensorDtype { .. }), "{msg}");
    assert!(msg.contains("model.norm.weight") && msg.contains("F64"), "{msg}");
}

#[test]
fn f16_checkpoint_loads() {
    let dir = tempfile::tempdir().unwrap();
    let tensors: HashMap<String, Tensor> =
        fixture_tensors().into_iter().map(|(k, v)| (k, v.to_dtype(DType::F16).unwrap())).collect();
    write_checkpoint(dir.path(), &fixture_config(), &tensors);
    let model = Qwen2::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
    let (name, var) = &model.params()[0];
    let expected = tensors[name].to_dtype(DType::F32).unwrap();
    let diff = (var.as_tensor() - expected).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(diff, 0.0, "f16 → f32 conversion of {name} is exact");
}

#[test]
fn truncated_and_garbage_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path(), &fixture_config(), &fixture_tensors());
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, Error::Checkpoint { .. }) && msg.contains("model.safetensors"), "{msg}");

    std::fs::write(&path, b"definitely not safetensors").unwrap();
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, Error::Checkpoint { .. }) && msg.contains("model.safetensors"), "{msg}");

    std::fs::remove_file(&path).unwrap();
    let (_, msg) = load_err(dir.path());
    assert!(msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn sharded_checkpoint_with_missing_shard_or_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::fixtures_dir().join("tiny_tied_bf16_sharded");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let index_path = dir.path().join("model.safetensors.index.json");
    let index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();

    // A tensor listed in a shard that does not hold it.
    let mut bad = index.clone();
    bad["weight_map"]["model.extra.weight"] = "model-00001-of-00003.safetensors".into();
    std::fs::write(&index_path, bad.to_string()).unwrap();
    let (_, msg) = load_err(dir.path());
    assert!(msg.contains("model.extra.weight") && msg.contains("model-00001-of-00003.safetensors"), "{msg}");

    // A shard file that does not exist.
    std::fs::write(&index_path, index.to_string()).unwrap();
    std::fs::remove_file(dir.path().join("model-00002-of-00003.safetensors")).unwrap();
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, Error::Io { .. }) && msg.contains("model-00002-of-00003.safetensors"), "{msg}");

    // An index that is not JSON.
    std::fs::write(&index_path, "{ nope").unwrap();
    let (_, msg) = load_err(dir.path());
    assert!(msg.contains("model.safetensors.index.json"), "{msg}");
}

#[test]
fn config_errors_name_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = fixture_tensors();
    type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: [(&str, Mutation); 4] = [
        (
            "hidden_size",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("hidden_size");
            }),
        ),
        ("num_key_value_heads", Box::new(|c| c["num_key_value_heads"] = 3.into())),
        ("hidden_act", Box::new(|c| c["hidden_act"] = "gelu".into())),
        ("vocab_size", Box::new(|c| c["vocab_size"] = "many".into())),
    ];
    for (field, mutate) in cases {
        let mut config = fixture_config();
        mutate(&mut config);
        write_checkpoint(dir.path(), &config, &tensors);
        let (err, msg) = load_err(dir.path());
        assert!(matches!(err, Error::Config { .. }), "{field}: {msg}");
        assert!(msg.contains("config.json") && msg.contains(field), "{field}: {msg}");
    }
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let (err, msg) = load_err(dir.path());
    assert!(matches!(err, Error::Io { .. }) && msg.contains("config.json"), "{msg}");
}
