//! A GGUF model loaded for inference: its metadata ([`ModelInfo`]), tokenizer, chat template
//! and quantized weights (candle's `quantized_llama`, which runs the `llama` architecture:
//! Llama, SmolLM, Mistral-style models).

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};

use crate::chat_template::ChatTemplate;
use crate::error::EngineError;
use crate::gguf_tokenizer::GgufTokenizer;

/// Prompt tokens run through the model at once (bounds the attention scores' memory).
pub const PREFILL_CHUNK: usize = 256;

/// What the engine knows about its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The file.
    pub path: PathBuf,
    /// `general.name`, or the file name without `.gguf`.
    pub name: String,
    /// `general.architecture`.
    pub architecture: String,
    /// Tokens of context this engine serves: the model's `context_length`, at most
    /// candle's limit ([`MAX_SEQ_LEN`]) and at most the caller's limit.
    pub context_length: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Key/value heads per block.
    pub kv_heads: usize,
    /// Size of one attention head.
    pub head_dim: usize,
    /// Size of the file in bytes.
    pub file_bytes: u64,
}

impl ModelInfo {
    /// Bytes of key/value cache per token of context (f32 keys and values in every block).
    pub fn kv_bytes_per_token(&self) -> u64 {
        (self.layers * 2 * self.kv_heads * self.head_dim * 4) as u64
    }
}

/// A loaded model.
pub struct LoadedModel {
    pub info: ModelInfo,
    pub tokenizer: GgufTokenizer,
    /// The file's chat template (`None` when it has none: chat requests are refused).
    pub template: Option<ChatTemplate>,
    pub(crate) weights: Weights,
}

/// The quantized weights and the key/value cache of the sequence being generated.
pub(crate) struct Weights(ModelWeights);

fn md_str(content: &Content, key: &str) -> Option<String> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

fn md_usize(content: &Content, key: &str) -> Option<usize> {
    let v = content.metadata.get(key)?;
    match v {
        Value::U64(n) => usize::try_from(*n).ok(),
        Value::I64(n) => usize::try_from(*n).ok(),
        _ => v.to_u32().ok().map(|n| n as usize),
    }
}

impl LoadedModel {
    /// Loads `path`; `max_context` caps the context served (memory: see
    /// [`ModelInfo::kv_bytes_per_token`]).
    pub fn load(path: &Path, max_context: Option<usize>) -> Result<Self, EngineError> {
        let mut file = std::fs::File::open(path).map_err(|e| EngineError::model(path, e))?;
        let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let content = Content::read(&mut file)
            .map_err(|e| EngineError::model(path, format!("not a readable GGUF file: {e}")))?;
        let architecture = md_str(&content, "general.architecture").unwrap_or_default();
        if architecture != "llama" {
            return Err(EngineError::model(
                path,
                format!(
                    "architecture {architecture:?} is not supported (this engine runs \"llama\" \
                     GGUFs: Llama, SmolLM, Mistral-style models)"
                ),
            ));
        }
        let name = md_str(&content, "general.name").unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let get = |key: &str| {
            md_usize(&content, key)
                .ok_or_else(|| EngineError::model(path, format!("no {key} in the metadata")))
        };
        let layers = get("llama.block_count")?;
        let heads = get("llama.attention.head_count")?;
        let kv_heads = get("llama.attention.head_count_kv").unwrap_or(heads);
        let embedding = get("llama.embedding_length")?;
        let trained_context = get("llama.context_length").unwrap_or(MAX_SEQ_LEN);
        let context_length = trained_context
            .min(MAX_SEQ_LEN)
            .min(max_context.unwrap_or(usize::MAX))
            .max(1);
        let tokenizer =
            GgufTokenizer::from_gguf(&content).map_err(|e| EngineError::model(path, e))?;
        let special_text = |id: Option<u32>| {
            id.and_then(|i| tokenizer.token_text(i))
                .unwrap_or("")
                .to_string()
        };
        let template = match md_str(&content, "tokenizer.chat_template") {
            Some(src) => Some(
                ChatTemplate::new(
                    &src,
                    &special_text(tokenizer.bos),
                    &special_text(tokenizer.eos),
                )
                .map_err(|e| EngineError::model(path, e))?,
            ),
            None => None,
        };
        let weights = ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
            .map_err(|e| EngineError::model(path, format!("weights: {e}")))?;
        Ok(LoadedModel {
            info: ModelInfo {
                path: path.to_path_buf(),
                name,
                architecture,
                context_length,
                layers,
                kv_heads,
                head_dim: embedding / heads.max(1),
                file_bytes,
            },
            tokenizer,
            template,
            weights: Weights(weights),
        })
    }
}

impl Weights {
    /// Runs `prompt` from position 0 (a fresh key/value cache) and returns the logits of its
    /// last token.
    pub(crate) fn prefill(&mut self, prompt: &[u32]) -> Result<Tensor, EngineError> {
        self.0.clear_kv_cache();
        let mut logits = None;
        for (i, chunk) in prompt.chunks(PREFILL_CHUNK).enumerate() {
            logits = Some(self.step(chunk, i * PREFILL_CHUNK)?);
        }
        logits.ok_or_else(|| EngineError::InvalidRequest("the prompt is empty".into()))
    }

    /// Runs `tokens` at position `pos` and returns the logits of the last one.
    pub(crate) fn step(&mut self, tokens: &[u32], pos: usize) -> Result<Tensor, EngineError> {
        let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        Ok(self.0.forward(&input, pos)?.squeeze(0)?)
    }
}
