//! Saving a model as a Hugging Face checkpoint directory and loading it back.

mod common;

use candle_core::{DType, Device, Tensor};
use lgpo_core::checkpoint::save_pretrained;
use lgpo_core::model::Qwen2;

fn load(dir: &std::path::Path) -> Qwen2 {
    Qwen2::load(dir, &Device::Cpu, DType::F32).unwrap()
}

fn params(model: &Qwen2) -> Vec<(String, Vec<f32>)> {
    model.params().iter().map(|(n, v)| (n.clone(), v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())).collect()
}

#[test]
fn saved_checkpoint_loads_back_identically() {
    for name in ["tiny_tied", "tiny_untied"] {
        let source = common::fixtures_dir().join(name);
        let model = load(&source);
        // Change a weight so the save is not a copy of the fixture.
        let (_, var) = &model.params()[3];
        var.set(&(var.as_tensor() * 1.5).unwrap()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ckpt");
        save_pretrained(&model, &dir, DType::F32, Some(&source)).unwrap();
        assert_eq!(params(&load(&dir)), params(&model), "{name}");
        assert!(dir.join("generation_config.json").exists(), "carried files are copied");

        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["architectures"][0], "Qwen2ForCausalLM");
        assert_eq!(config["bos_token_id"], 1);
        assert_eq!(config["torch_dtype"], "float32");
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
        assert_eq!(tensors.contains_key("lm_head.weight"), name == "tiny_untied", "a tied head is stored once");
    }
}

#[test]
fn bf16_save_rounds_weights() {
    let model = load(&common::fixtures_dir().join("tiny_tied"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bf16");
    save_pretrained(&model, &dir, DType::BF16, None).unwrap();
    let reloaded = load(&dir);
    for ((name, a), (_, b)) in model.params().iter().zip(reloaded.params()) {
        let rounded = a.as_tensor().to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap();
        let diff = (rounded - b.as_tensor()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0, "{name}");
    }
}

#[test]
fn overwrite_is_complete_and_failures_leave_the_old_checkpoint() {
    let model = load(&common::fixtures_dir().join("tiny_tied"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    save_pretrained(&model, &dir, DType::F32, None).unwrap();
    let before = params(&load(&dir));
    let (_, var) = &model.params()[0];
    var.set(&Tensor::zeros(var.shape(), DType::F32, &Device::Cpu).unwrap()).unwrap();
    save_pretrained(&model, &dir, DType::F32, None).unwrap();
    let after = params(&load(&dir));
    assert_ne!(before, after);
    assert_eq!(after, params(&model));

    let err = save_pretrained(&model, &dir, DType::U32, None).unwrap_err().to_string();
    assert!(err.contains("U32"), "{err}");
    assert_eq!(params(&load(&dir)), after, "a failed save leaves the previous checkpoint");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("ckpt")], "no staging or old directories remain");
}
