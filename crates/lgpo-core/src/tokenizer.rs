//! The Qwen2 tokenizer: byte-level BPE with the Qwen2 pre-tokenizer regex and the chat special
//! tokens (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, ...).
//!
//! A checkpoint directory either has a `tokenizer.json` (loaded as is) or, like the Qwen2.5
//! releases, only `vocab.json` + `merges.txt` + `tokenizer_config.json`. In the second case the
//! tokenizer is built here the way transformers' `Qwen2TokenizerFast` builds it (its
//! `Qwen2Converter`), so that both give the same ids for every text:
//! - model: BPE without unk token, subword prefix, word suffix or byte fallback;
//! - normalizer: NFC;
//! - pre-tokenizer: [`QWEN2_SPLIT_REGEX`] (isolated matches), then byte-level without prefix space;
//! - decoder and post-processor: byte-level (the post-processor adds no token);
//! - added tokens: every entry of `added_tokens_decoder` in `tokenizer_config.json`, at its id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::{Error, Result};

/// The pre-tokenizer regex of Qwen2 (transformers' `Qwen2Converter`): contractions, letter runs
/// with at most one leading non-letter, single digits, punctuation runs, newlines, whitespace.
pub const QWEN2_SPLIT_REGEX: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const TOKENIZER_JSON: &str = "tokenizer.json";
const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
const CHAT_TEMPLATE_JINJA: &str = "chat_template.jinja";
const VOCAB: &str = "vocab.json";
const MERGES: &str = "merges.txt";

/// A text tokenizer for Qwen2/Qwen2.5 checkpoints, with the chat template and the special tokens
/// declared in `tokenizer_config.json`.
///
/// ```no_run
/// # fn main() -> lgpo_core::Result<()> {
/// let tok = lgpo_core::tokenizer::Tokenizer::from_dir("Qwen2.5-0.5B-Instruct")?;
/// let ids = tok.encode("<|im_start|>user\nhi<|im_end|>")?;
/// assert_eq!(ids[0], 151644);
/// assert_eq!(tok.decode(&ids, false)?, "<|im_start|>user\nhi<|im_end|>");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<String>,
    eos_token: Option<String>,
    pad_token: Option<String>,
}

impl Tokenizer {
    /// Loads the tokenizer of a checkpoint directory: `tokenizer.json` when present, otherwise
    /// built from `vocab.json`, `merges.txt` and `tokenizer_config.json` (see the module docs).
    /// The chat template and the eos/pad tokens come from `tokenizer_config.json` when present
    /// (the template from `chat_template.jinja` when the config has none).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer directory not found"),
            });
        }
        let config_path = dir.join(TOKENIZER_CONFIG);
        let json_path = dir.join(TOKENIZER_JSON);
        // Without tokenizer.json the config is required: it declares the special tokens.
        let config = if config_path.exists() || !json_path.exists() {
            TokenizerConfig::read(&config_path)?
        } else {
            TokenizerConfig::default()
        };
        let inner = if json_path.exists() {
            read_tokenizer_json(&json_path)?
        } else {
            build_qwen2(dir, &config, &config_path)?
        };
        let chat_template = match config.chat_template {
            Some(template) => template.default_template(),
            None => read_optional(&dir.join(CHAT_TEMPLATE_JINJA))?,
        };
        Ok(Self {
            inner,
            chat_template,
            eos_token: config.eos_token.map(TokenName::into_content),
            pad_token: config.pad_token.map(TokenName::into_content),
        })
    }

    /// Loads a `tokenizer.json` file alone: no chat template, no eos/pad token names.
    pub fn from_file(tokenizer_json: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            inner: read_tokenizer_json(tokenizer_json.as_ref())?,
            chat_template: None,
            eos_token: None,
            pad_token: None,
        })
    }

    /// Token ids of `text`. Special tokens written in the text (`<|im_start|>`) map to their ids.
    /// Only what the post-processor adds is added: nothing for Qwen2, which has no BOS.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding =
            self.inner.encode_fast(text, true).map_err(|e| Error::Tokenizer(format!("cannot encode text: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// [`Tokenizer::encode`] of each text.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|text| self.encode(text)).collect()
    }

    /// The text of `ids`, without the special tokens when `skip_special_tokens`. An id outside the
    /// vocabulary is an [`Error::Input`] naming it.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        if let Some(&id) = ids.iter().find(|&&id| self.inner.id_to_token(id).is_none()) {
            return Err(Error::Input(format!(
                "token id {id} is not in the tokenizer's vocabulary of {} ids",
                self.vocab_size()
            )));
        }
        self.inner.decode(ids, skip_special_tokens).map_err(|e| Error::Tokenizer(format!("cannot decode ids: {e}")))
    }

    /// The text of model output `ids`: ids the tokenizer lacks (a model's padded embedding rows)
    /// decode to nothing, as in Hugging Face tokenizers, and their number is returned beside the
    /// text. For user-supplied ids use the strict [`Tokenizer::decode`].
    pub fn decode_lenient(&self, ids: &[u32], skip_special_tokens: bool) -> Result<(String, usize)> {
        let known: Vec<u32> = ids.iter().copied().filter(|&id| self.inner.id_to_token(id).is_some()).collect();
        let text = self
            .inner
            .decode(&known, skip_special_tokens)
            .map_err(|e| Error::Tokenizer(format!("cannot decode ids: {e}")))?;
        Ok((text, ids.len() - known.len()))
    }

    /// [`Tokenizer::decode`] of each sequence.
    pub fn decode_batch(&self, ids: &[&[u32]], skip_special_tokens: bool) -> Result<Vec<String>> {
        ids.iter().map(|ids| self.decode(ids, skip_special_tokens)).collect()
    }

    /// The id of a token (a vocabulary entry in byte-level form, or an added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token of an id, in byte-level form (`Ġ` for a space).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Number of tokens, added tokens included (151,665 for Qwen2.5; the model's embedding
    /// table is larger).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The Jinja chat template of the checkpoint, if it has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// The end-of-sequence token declared in `tokenizer_config.json` (`<|im_end|>` for the
    /// instruct models).
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// The padding token declared in `tokenizer_config.json` (`<|endoftext|>` for Qwen2.5).
    pub fn pad_token(&self) -> Option<&str> {
        self.pad_token.as_deref()
    }

    /// Writes this tokenizer as a standard `tokenizer.json` (what `tokenizers` and transformers'
    /// fast tokenizers load), through a temporary file renamed into place so that a failed write
    /// leaves no partial file. The chat template and token names stay in `tokenizer_config.json`.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = self.inner.to_string(true).map_err(|e| bad_file(path, e))?;
        let tmp = path.with_extension("json.tmp");
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The wrapped Hugging Face tokenizer, for what this type does not expose (offsets,
    /// streaming decode).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// The fields of `tokenizer_config.json` that this module reads.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    #[serde(default)]
    added_tokens_decoder: BTreeMap<String, AddedTokenEntry>,
    chat_template: Option<ChatTemplate>,
    bos_token: Option<TokenName>,
    eos_token: Option<TokenName>,
    unk_token: Option<TokenName>,
    pad_token: Option<TokenName>,
    #[serde(default)]
    additional_special_tokens: Vec<TokenName>,
}

impl TokenizerConfig {
    fn read(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        serde_json::from_str(&text).map_err(|e| bad_file(path, e))
    }

    /// Tokens that transformers marks special whatever their `special` flag says: the named
    /// special tokens (`eos_token`, ..., `additional_special_tokens`).
    fn named_special_tokens(&self) -> HashSet<&str> {
        [&self.bos_token, &self.eos_token, &self.unk_token, &self.pad_token]
            .into_iter()
            .flatten()
            .chain(&self.additional_special_tokens)
            .map(TokenName::content)
            .collect()
    }
}

/// One entry of `added_tokens_decoder`; absent flags take transformers' defaults.
#[derive(Debug, Deserialize)]
struct AddedTokenEntry {
    content: String,
    #[serde(default)]
    special: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default)]
    single_word: bool,
    /// Defaults to `!special`.
    normalized: Option<bool>,
}

/// A special token given as a plain string or as an `AddedToken` object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TokenName {
    Plain(String),
    Added { content: String },
}

impl TokenName {
    fn content(&self) -> &str {
        match self {
            TokenName::Plain(s) | TokenName::Added { content: s } => s,
        }
    }

    fn into_content(self) -> String {
        match self {
            TokenName::Plain(s) | TokenName::Added { content: s } => s,
        }
    }
}

/// `chat_template`: one template, or a list of named ones of which `default` is used.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ChatTemplate {
    Single(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Debug, Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

impl ChatTemplate {
    fn default_template(self) -> Option<String> {
        match self {
            ChatTemplate::Single(template) => Some(template),
            ChatTemplate::Named(list) => list.into_iter().find(|t| t.name == "default").map(|t| t.template),
        }
    }
}

/// Qwen2TokenizerFast from `vocab.json` + `merges.txt` and the added tokens of `config`.
fn build_qwen2(dir: &Path, config: &TokenizerConfig, config_path: &Path) -> Result<tokenizers::Tokenizer> {
    let vocab_path = dir.join(VOCAB);
    let merges_path = dir.join(MERGES);
    let vocab = read_vocab(&vocab_path)?;
    let merges = read_merges(&merges_path)?;
    check_merges(&merges, &vocab, &merges_path)?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        // Empty rather than absent, as Qwen2Converter passes them (same tokens either way).
        .continuing_subword_prefix(String::new())
        .end_of_word_suffix(String::new())
        .byte_fallback(false)
        .build()
        .map_err(|e| {
            Error::Tokenizer(format!(
                "{} and {} do not form a BPE model: {e}",
                vocab_path.display(),
                merges_path.display()
            ))
        })?;

    let mut tokenizer = tokenizers::Tokenizer::new(bpe);
    let split = Split::new(SplitPattern::Regex(QWEN2_SPLIT_REGEX.to_string()), SplitDelimiterBehavior::Isolated, false)
        .map_err(|e| Error::Tokenizer(format!("bad pre-tokenizer regex: {e}")))?;
    // The Python defaults with add_prefix_space and use_regex off, as Qwen2Converter sets them.
    let byte_level = ByteLevel::default().add_prefix_space(false).use_regex(false);
    tokenizer.with_normalizer(Some(NFC)).map_err(|e| Error::Tokenizer(format!("cannot set the normalizer: {e}")))?;
    tokenizer
        .with_pre_tokenizer(Some(Sequence::new(vec![split.into(), byte_level.into()])))
        .with_decoder(Some(ByteLevel::default()))
        .with_post_processor(Some(ByteLevel::default().trim_offsets(false)));

    add_declared_tokens(&mut tokenizer, config, config_path)?;
    Ok(tokenizer)
}

/// Adds the entries of `added_tokens_decoder` in id order and checks that each got its id.
fn add_declared_tokens(
    tokenizer: &mut tokenizers::Tokenizer,
    config: &TokenizerConfig,
    config_path: &Path,
) -> Result<()> {
    let named_special = config.named_special_tokens();
    let mut by_id = BTreeMap::new();
    for (key, entry) in &config.added_tokens_decoder {
        let id: u32 = key
            .parse()
            .map_err(|_| bad_file(config_path, format!("added_tokens_decoder key `{key}` is not a token id")))?;
        by_id.insert(id, entry);
    }
    let tokens = by_id.values().map(|entry| {
        let special = entry.special || named_special.contains(entry.content.as_str());
        AddedToken::from(entry.content.clone(), special)
            .lstrip(entry.lstrip)
            .rstrip(entry.rstrip)
            .single_word(entry.single_word)
            .normalized(entry.normalized.unwrap_or(!special))
    });
    tokenizer
        .add_tokens(tokens.collect::<Vec<_>>())
        .map_err(|e| bad_file(config_path, format!("cannot add the added tokens: {e}")))?;
    for (&id, entry) in &by_id {
        let got = tokenizer.token_to_id(&entry.content);
        if got != Some(id) {
            return Err(bad_file(
                config_path,
                format!(
                    "added token `{}` is declared with id {id} but got id {got:?} \
                     (ids must follow the vocabulary without gaps)",
                    entry.content
                ),
            ));
        }
    }
    Ok(())
}

fn read_vocab(path: &Path) -> Result<Vocab> {
    let text = read_text(path)?;
    let vocab: HashMap<String, u32> = serde_json::from_str(&text).map_err(|e| bad_file(path, e))?;
    Ok(vocab.into_iter().collect())
}

/// Merges as transformers' `Qwen2Tokenizer` reads them: a `#version` first line and empty lines
/// are skipped, every other line is two tokens separated by a space.
fn read_merges(path: &Path) -> Result<Vec<(String, String)>> {
    let text = read_text(path)?;
    let mut merges = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.starts_with("#version")) {
            continue;
        }
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [a, b] => merges.push((a.to_string(), b.to_string())),
            _ => return Err(bad_file(path, format!("line {} is not a merge `a b`: {line:?}", i + 1))),
        }
    }
    Ok(merges)
}

/// Every merge must join two vocabulary tokens into a vocabulary token (the BPE builder of the
/// tokenizers crate panics on some merges that do not).
fn check_merges(merges: &[(String, String)], vocab: &Vocab, path: &Path) -> Result<()> {
    for (rank, (a, b)) in merges.iter().enumerate() {
        let merged = format!("{a}{b}");
        let missing = [a, b, &merged].into_iter().find(|t| !vocab.contains_key(*t));
        if let Some(token) = missing {
            return Err(bad_file(path, format!("merge #{} `{a} {b}`: `{token}` is not in vocab.json", rank + 1)));
        }
    }
    Ok(())
}

fn read_tokenizer_json(path: &Path) -> Result<tokenizers::Tokenizer> {
    let text = read_text(path)?;
    text.parse::<tokenizers::Tokenizer>().map_err(|e| bad_file(path, e))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    if path.exists() {
        read_text(path).map(Some)
    } else {
        Ok(None)
    }
}

fn bad_file(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("{}: {message}", PathBuf::from(path).display()))
}
