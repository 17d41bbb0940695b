//! The crate's error type. Every failure that a user can cause (a bad checkpoint, a bad config,
//! bad input to a forward pass or to generation) is a typed error that names the file, the tensor
//! or the field at fault; nothing in this crate panics on user input.

use std::path::PathBuf;

/// Errors of the lgpo core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model config (`config.json`) is missing a field, has a bad value or does not parse.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A safetensors file (or its index) is unreadable: truncated, bad header, bad JSON.
    #[error("{path}: not a readable safetensors checkpoint: {message}")]
    Checkpoint { path: PathBuf, message: String },

    /// A tensor the model needs is not in the checkpoint.
    #[error("{path}: tensor `{tensor}` is missing")]
    MissingTensor { path: PathBuf, tensor: String },

    /// A checkpoint tensor has the wrong shape.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    TensorShape { path: PathBuf, tensor: String, expected: Vec<usize>, found: Vec<usize> },

    /// A checkpoint tensor has a dtype the model cannot load.
    #[error("{path}: tensor `{tensor}` has dtype {dtype}, supported are F32, BF16 and F16")]
    TensorDtype { path: PathBuf, tensor: String, dtype: String },

    /// Bad arguments to a core call (shapes, token ids, options); the message names the argument.
    #[error("invalid input: {0}")]
    Input(String),

    /// The tokenizer could not be built or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// An error raised by candle inside a tensor operation.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result type of the lgpo core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Input`] from anything printable.
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }
}

/// `bail_input!("...", args)` returns an [`Error::Input`] from the current function.
#[macro_export]
macro_rules! bail_input {
    ($($arg:tt)*) => {
        return Err($crate::Error::Input(format!($($arg)*)))
    };
}
