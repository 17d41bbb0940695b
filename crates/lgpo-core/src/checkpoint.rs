//! Saving a model as a Hugging Face checkpoint directory that this crate and transformers load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};

use crate::model::{Qwen2, Qwen2Config};
use crate::{bail_input, Error, Result};

/// Files of a checkpoint directory that are not weights and are carried over on save (`lgpo.json`
/// is the task card of the project's shipped models). The one list: the hub client downloads
/// `config.json` and these (through the Node binding's `checkpointFiles`).
pub const CARRIED_FILES: [&str; 10] = [
    "generation_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "lgpo.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn torch_dtype_name(dtype: DType) -> Result<&'static str> {
    Ok(match dtype {
        DType::F32 => "float32",
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        other => bail_input!("checkpoints are saved as f32, bf16 or f16, not {other:?}"),
    })
}

/// The dtype checkpoints are saved in unless a caller says otherwise: the f32 master weights as
/// they are.
pub const DEFAULT_SAVE_DTYPE: DType = DType::F32;

/// Writes a randomly initialised checkpoint (transformers' Qwen2 initialisation from `seed`) of
/// `config` to `dir` in `dtype`, after checking the config: for tests and benchmarks of shapes.
pub fn init_random_checkpoint(config: Qwen2Config, seed: u64, dir: impl AsRef<Path>, dtype: DType) -> Result<()> {
    config.validate(Path::new("<config>"))?;
    let model = Qwen2::random(config, seed, &candle_core::Device::Cpu, DType::F32)?;
    save_pretrained(&model, dir, dtype, None)
}

/// Writes `model` to `dir` as `config.json` + `model.safetensors` with weights in `dtype` (a tied
/// LM head is stored once, as transformers does), and copies the tokenizer and generation files
/// of `carry_from` when given.
///
/// The directory is written beside its destination and renamed into place, so `dir` holds
/// either its previous content or the complete new checkpoint, never a partial one.
pub fn save_pretrained(model: &Qwen2, dir: impl AsRef<Path>, dtype: DType, carry_from: Option<&Path>) -> Result<()> {
    let dir = dir.as_ref();
    let name = dir.file_name().ok_or_else(|| Error::input(format!("cannot save to {}", dir.display())))?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = parent.join(format!(".{}.saving-{}", name.to_string_lossy(), std::process::id()));
    let result = write_checkpoint(model, &staging, dtype, carry_from).and_then(|()| replace_dir(&staging, dir));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn write_checkpoint(model: &Qwen2, staging: &Path, dtype: DType, carry_from: Option<&Path>) -> Result<()> {
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(io(staging))?;
    }
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    let mut config = model.config().clone();
    config.extra.insert("torch_dtype".into(), torch_dtype_name(dtype)?.into());
    config.extra.remove("dtype"); // transformers >= 4.56 writes `dtype`; keep one spelling
    let config_path = staging.join("config.json");
    let json = serde_json::to_string_pretty(&config).expect("a config serialises");
    std::fs::write(&config_path, json + "\n").map_err(io(&config_path))?;

    let tensors: Vec<(String, Tensor)> = model
        .params()
        .iter()
        .map(|(name, var)| {
            Ok((name.clone(), var.as_tensor().detach().to_dtype(dtype)?.to_device(&candle_core::Device::Cpu)?))
        })
        .collect::<Result<_>>()?;
    let weights_path = staging.join("model.safetensors");
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(tensors, Some(metadata), &weights_path)
        .map_err(|e| Error::Checkpoint { path: weights_path.clone(), message: e.to_string() })?;

    if let Some(source) = carry_from {
        for file in CARRIED_FILES {
            let from = source.join(file);
            if from.exists() {
                std::fs::copy(&from, staging.join(file)).map_err(io(&from))?;
            }
        }
    }
    Ok(())
}

/// Moves `staging` to `dir`, replacing an existing `dir` only once `staging` is complete.
fn replace_dir(staging: &Path, dir: &Path) -> Result<()> {
    if !dir.exists() {
        return std::fs::rename(staging, dir).map_err(io(dir));
    }
    let mut old = dir.as_os_str().to_owned();
    old.push(format!(".old-{}", std::process::id()));
    let old = PathBuf::from(old);
    std::fs::rename(dir, &old).map_err(io(dir))?;
    if let Err(e) = std::fs::rename(staging, dir) {
        let _ = std::fs::rename(&old, dir); // put the previous checkpoint back
        return Err(io(dir)(e));
    }
    std::fs::remove_dir_all(&old).map_err(io(&old))
}
