//! The Qwen2 tokenizer. Loading is small enough to run on the JS thread.

use napi::Result;
use napi_derive::napi;

use crate::convert::core;
use crate::errors::guard;

/// The text of model output and how many of its ids the tokenizer lacks.
#[napi(object)]
pub struct LenientDecoding {
    pub text: String,
    /// Ids that decoded to nothing because the tokenizer has no token for them.
    pub unknown_tokens: u32,
}

/// A tokenizer loaded from a checkpoint directory (`tokenizer.json`, or `vocab.json` +
/// `merges.txt` + `tokenizer_config.json`).
#[napi]
pub struct NativeTokenizer {
    inner: lgpo_core::tokenizer::Tokenizer,
}

#[napi]
impl NativeTokenizer {
    /// Loads the tokenizer of `dir`.
    #[napi(factory)]
    pub fn from_dir(dir: String) -> Result<Self> {
        guard(|| Ok(NativeTokenizer { inner: core(lgpo_core::tokenizer::Tokenizer::from_dir(&dir))? }))
    }

    /// Token ids of `text`; special tokens written in the text map to their ids.
    #[napi]
    pub fn encode(&self, text: String) -> Result<Vec<u32>> {
        guard(|| core(self.inner.encode(&text)))
    }

    /// Text of `ids`.
    #[napi]
    pub fn decode(&self, ids: Vec<u32>, skip_special_tokens: Option<bool>) -> Result<String> {
        guard(|| core(self.inner.decode(&ids, skip_special_tokens.unwrap_or(false))))
    }

    /// Text of model output: ids the tokenizer lacks (padded embedding rows) decode to nothing
    /// and are counted, as in Hugging Face tokenizers.
    #[napi]
    pub fn decode_lenient(&self, ids: Vec<u32>, skip_special_tokens: Option<bool>) -> Result<LenientDecoding> {
        guard(|| {
            let (text, unknown) = core(self.inner.decode_lenient(&ids, skip_special_tokens.unwrap_or(false)))?;
            Ok(LenientDecoding { text, unknown_tokens: unknown as u32 })
        })
    }

    /// Writes the tokenizer as a standard `tokenizer.json` at `path`.
    #[napi]
    pub fn save_json(&self, path: String) -> Result<()> {
        guard(|| core(self.inner.save_json(&path)))
    }

    /// Id of a token string, if it is in the vocabulary.
    #[napi]
    pub fn token_to_id(&self, token: String) -> Option<u32> {
        self.inner.token_to_id(&token)
    }

    /// Vocabulary size, added tokens included.
    #[napi(getter)]
    pub fn vocab_size(&self) -> u32 {
        self.inner.vocab_size() as u32
    }

    /// The chat template of `tokenizer_config.json`, if any.
    #[napi(getter)]
    pub fn chat_template(&self) -> Option<String> {
        self.inner.chat_template().map(str::to_string)
    }

    /// The end-of-sequence token string of `tokenizer_config.json`, if any.
    #[napi(getter)]
    pub fn eos_token(&self) -> Option<String> {
        self.inner.eos_token().map(str::to_string)
    }

    /// The padding token string of `tokenizer_config.json`, if any.
    #[napi(getter)]
    pub fn pad_token(&self) -> Option<String> {
        self.inner.pad_token().map(str::to_string)
    }
}
