//! Reading tensors from a Hugging Face checkpoint directory: `model.safetensors`, or shards listed
//! by `model.safetensors.index.json`. Files are memory-mapped; a tensor is read when asked for,
//! checked against the shape the model expects, and converted to the compute dtype.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype as StDtype, Metadata, SafeTensors};

use crate::{Error, Result};

const SINGLE_FILE: &str = "model.safetensors";
const INDEX_FILE: &str = "model.safetensors.index.json";

/// One memory-mapped safetensors file with its parsed header.
struct SafetensorsFile {
    path: PathBuf,
    mmap: memmap2::Mmap,
    header_len: usize,
    metadata: Metadata,
}

impl SafetensorsFile {
    fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        // SAFETY: the map is read-only; a checkpoint modified while it is loaded is undefined
        // behaviour in every mmap-based loader, including Hugging Face's.
        let mmap =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let (header_len, metadata) = SafeTensors::read_metadata(&mmap)
            .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(SafetensorsFile { path: path.to_path_buf(), mmap, header_len, metadata })
    }

    fn names(&self) -> Vec<String> {
        self.metadata.tensors().into_keys().collect()
    }
}

/// The tensors of a checkpoint directory, by name.
pub struct CheckpointReader {
    dir: PathBuf,
    files: Vec<SafetensorsFile>,
    /// Tensor name → index into `files`.
    location: HashMap<String, usize>,
    /// The file that lists the tensors (the single file or the index), for error messages.
    listing: PathBuf,
}

impl CheckpointReader {
    /// Opens `dir/model.safetensors`, or the shards of `dir/model.safetensors.index.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let index_path = dir.join(INDEX_FILE);
        let single_path = dir.join(SINGLE_FILE);
        if index_path.exists() {
            Self::open_sharded(dir, index_path)
        } else if single_path.exists() {
            let file = SafetensorsFile::open(&single_path)?;
            let location = file.names().into_iter().map(|n| (n, 0)).collect();
            Ok(CheckpointReader { dir, files: vec![file], location, listing: single_path })
        } else {
            Err(Error::Checkpoint { path: dir, message: format!("neither {SINGLE_FILE} nor {INDEX_FILE} found") })
        }
    }

    fn open_sharded(dir: PathBuf, index_path: PathBuf) -> Result<Self> {
        let text =
            std::fs::read_to_string(&index_path).map_err(|source| Error::Io { path: index_path.clone(), source })?;
        let bad_index = |message: String| Error::Checkpoint { path: index_path.clone(), message };
        let index: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad_index(e.to_string()))?;
        let weight_map = index
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad_index("no `weight_map` object".into()))?;
        let mut shard_ids: HashMap<String, usize> = HashMap::new();
        let mut files = Vec::new();
        let mut location = HashMap::new();
        for (tensor, shard) in weight_map {
            let shard = shard.as_str().ok_or_else(|| bad_index(format!("`weight_map.{tensor}` is not a file name")))?;
            let id = match shard_ids.get(shard) {
                Some(&id) => id,
                None => {
                    files.push(SafetensorsFile::open(&dir.join(shard))?);
                    shard_ids.insert(shard.to_string(), files.len() - 1);
                    files.len() - 1
                }
            };
            if files[id].metadata.info(tensor).is_none() {
                return Err(Error::MissingTensor { path: files[id].path.clone(), tensor: tensor.clone() });
            }
            location.insert(tensor.clone(), id);
        }
        Ok(CheckpointReader { dir, files, location, listing: index_path })
    }

    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of all tensors in the checkpoint.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.location.keys().map(|s| s.as_str())
    }

    /// Whether the checkpoint has a tensor called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.location.contains_key(name)
    }

    /// Reads `name`, checks that its shape is `shape`, and converts it to `dtype` on `device`.
    pub fn tensor(&self, name: &str, shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        let &id = self
            .location
            .get(name)
            .ok_or_else(|| Error::MissingTensor { path: self.listing.clone(), tensor: name.to_string() })?;
        let file = &self.files[id];
        let info = file.metadata.info(name).expect("listed tensors exist in their file");
        if info.shape != shape {
            return Err(Error::TensorShape {
                path: file.path.clone(),
                tensor: name.to_string(),
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        let stored = match info.dtype {
            StDtype::F32 => DType::F32,
            StDtype::BF16 => DType::BF16,
            StDtype::F16 => DType::F16,
            other => {
                return Err(Error::TensorDtype {
                    path: file.path.clone(),
                    tensor: name.to_string(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        let start = 8 + file.header_len + info.data_offsets.0;
        let end = 8 + file.header_len + info.data_offsets.1;
        let bytes = &file.mmap[start..end];
        let tensor = Tensor::from_raw_buffer(bytes, stored, shape, &Device::Cpu)?;
        Ok(tensor.to_dtype(dtype)?.to_device(device)?)
    }
}
