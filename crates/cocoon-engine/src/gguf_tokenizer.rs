//! The tokenizer stored in a GGUF file (`tokenizer.ggml.*`), rebuilt with Hugging Face's
//! `tokenizers`: a byte-level BPE (`tokenizer.ggml.model = "gpt2"`) from the file's vocabulary
//! and merges, with the pre-tokenizer llama.cpp picks for `tokenizer.ggml.pre`, and the file's
//! control tokens (`<|im_start|>`, …) parsed as single special tokens, as llama.cpp does for
//! prompts. (candle's own `TokenizerFromGguf` treats `"smollm"` as plain GPT-2, which splits
//! numbers differently from llama.cpp; this module follows llama.cpp's choice per `pre`.)

use std::collections::{HashMap, HashSet};

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Names of control tokens that end a turn, besides the file's own eos/eot ids (llama.cpp's
/// end-of-generation list, the part of it that BPE models use).
const END_OF_TURN_NAMES: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|end_of_text|>",
];

/// llama 3's pre-tokenizer regex (llama.cpp `LLAMA_VOCAB_PRE_TYPE_LLAMA3`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen 2's pre-tokenizer regex (llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A GGUF model's tokenizer and its special tokens.
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// Prepend `bos` to every prompt (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// Tokens that end the answer (eos, eot and the known end-of-turn control tokens).
    pub end_of_generation: HashSet<u32>,
    tokens: Vec<String>,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocab", &self.tokens.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

fn strings(md: &HashMap<String, Value>, key: &str) -> Result<Vec<String>, String> {
    let v = md
        .get(key)
        .ok_or_else(|| format!("no {key} in the metadata"))?;
    let items = v.to_vec().map_err(|e| format!("{key}: {e}"))?;
    items
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| format!("{key}: {e}")))
        .collect()
}

fn token_id(md: &HashMap<String, Value>, key: &str) -> Option<u32> {
    md.get(key).and_then(|v| v.to_u32().ok())
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(content: &Content) -> Result<Self, String> {
        let md = &content.metadata;
        let model = md
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if model != "gpt2" {
            return Err(format!(
                "tokenizer.ggml.model {model:?} is not supported (only byte-level BPE, \"gpt2\")"
            ));
        }
        let tokens = strings(md, "tokenizer.ggml.tokens")?;
        let merges = strings(md, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| format!("bad merge {m:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| e.to_string())?
                .iter()
                .map(|t| t.to_i32().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| format!("BPE: {e}"))?;
        let mut inner = Tokenizer::new(bpe);
        let pre = md
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| "default".into());
        inner.with_pre_tokenizer(Some(pre_tokenizer(&pre)?));
        inner.with_decoder(Some(ByteLevel::default()));
        let specials: Vec<AddedToken> = tokens
            .iter()
            .zip(types.iter().chain(std::iter::repeat(&1)))
            .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL || **t == TOKEN_TYPE_USER_DEFINED)
            .map(|(s, _)| AddedToken::from(s.clone(), true))
            .collect();
        inner
            .add_special_tokens(specials)
            .map_err(|e| format!("special tokens: {e}"))?;

        let bos = token_id(md, "tokenizer.ggml.bos_token_id");
        let eos = token_id(md, "tokenizer.ggml.eos_token_id");
        let mut end_of_generation: HashSet<u32> =
            [eos, token_id(md, "tokenizer.ggml.eot_token_id")]
                .into_iter()
                .flatten()
                .collect();
        for (i, (t, ty)) in tokens.iter().zip(&types).enumerate() {
            if *ty == TOKEN_TYPE_CONTROL && END_OF_TURN_NAMES.contains(&t.as_str()) {
                end_of_generation.insert(i as u32);
            }
        }
        let add_bos = md
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false)
            && bos.is_some();
        Ok(GgufTokenizer {
            inner,
            add_bos,
            bos,
            eos,
            end_of_generation,
            tokens,
        })
    }

    /// Token ids of `text`; control tokens written in it (`<|im_start|>`) are parsed as such,
    /// and `bos` is prepended when the model asks for it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| format!("tokenizer: {e}"))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// The text of `ids` (special tokens left out).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| format!("tokenizer: {e}"))
    }

    /// The token's text as stored in the file (e.g. `"<|im_end|>"`), if the id exists.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }
}

/// The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre` (llama-vocab.cpp).
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, String> {
    let gpt2 = || ByteLevel::new(false, true, true);
    Ok(match pre {
        // Single digits, then GPT-2's regex.
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
            Sequence::new(vec![Digits::new(true).into(), gpt2().into()]).into()
        }
        "llama3" | "llama-bpe" | "llama-v3" | "smaug-bpe" | "qwen2" => {
            let regex = if pre == "qwen2" {
                QWEN2_SPLIT
            } else {
                LLAMA3_SPLIT
            };
            let split = Split::new(
                SplitPattern::Regex(regex.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("pre-tokenizer: {e}"))?;
            Sequence::new(vec![
                split.into(),
                ByteLevel::new(false, true, false).into(),
            ])
            .into()
        }
        "default" | "gpt-2" | "gpt2" => gpt2().into(),
        other => {
            tracing::warn!(
                pre = other,
                "unknown tokenizer.ggml.pre: using GPT-2's pre-tokenizer (token ids may differ from llama.cpp's)"
            );
            gpt2().into()
        }
    })
}
