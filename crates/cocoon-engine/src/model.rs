//! A GGUF model loaded by llama.cpp: its metadata ([`ModelInfo`]), tokenizer, chat template, and
//! the [`Session`] that runs it (one sequence, one key/value cache) on the engine's thread.
//!
//! llama.cpp runs every architecture it knows (Llama, SmolLM, Qwen, Mistral, Gemma, Phi, …) on
//! the CPU with its own quantized kernels; see docs/local-engine.md for why this library.

use std::io::Read;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::chat_template::ChatTemplate;
use crate::error::EngineError;
use crate::tokenizer::Tokenizer;

/// Prompt tokens run through the model at once (llama.cpp's batch; bounds the compute buffer).
pub const PREFILL_CHUNK: usize = 512;

/// Context served when the caller sets no cap (and the model allows as much).
pub const DEFAULT_MAX_CONTEXT: usize = 4096;

/// What the engine knows about its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The file.
    pub path: PathBuf,
    /// `general.name`, or the file name without `.gguf`.
    pub name: String,
    /// `general.architecture`.
    pub architecture: String,
    /// Tokens of context this engine serves: the model's trained context, at most the caller's
    /// cap ([`DEFAULT_MAX_CONTEXT`] when none).
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

/// llama.cpp's process-wide state, set up once (its log lines go to `tracing`).
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Inference(format!("cannot start llama.cpp: {e}")))
}

/// A loaded model (shared by the engine handle, for tokenizing, and the engine's thread).
pub struct LoadedModel {
    pub info: ModelInfo,
    pub tokenizer: Tokenizer,
    /// The file's chat template (`None` when it has none: chat requests are refused).
    pub template: Option<ChatTemplate>,
    pub(crate) model: Arc<LlamaModel>,
}

/// Refuses what is not a GGUF file before llama.cpp sees it, with a clear message.
fn check_gguf(path: &Path) -> Result<u64, EngineError> {
    let mut file = std::fs::File::open(path).map_err(|e| EngineError::model(path, e))?;
    let meta = file.metadata().map_err(|e| EngineError::model(path, e))?;
    if !meta.is_file() {
        return Err(EngineError::model(path, "not a file"));
    }
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(EngineError::model(
            path,
            "not a GGUF file (it does not start with \"GGUF\")",
        ));
    }
    Ok(meta.len())
}

impl LoadedModel {
    /// Loads `path`; `max_context` caps the context served (memory: see
    /// [`ModelInfo::kv_bytes_per_token`]).
    pub fn load(path: &Path, max_context: Option<usize>) -> Result<Self, EngineError> {
        let file_bytes = check_gguf(path)?;
        let model = LlamaModel::load_from_file(backend()?, path, &LlamaModelParams::default())
            .map_err(|e| {
                EngineError::model(
                    path,
                    format!("llama.cpp cannot load it ({e}; its log says why)"),
                )
            })?;
        let model = Arc::new(model);
        let meta = |key: &str| model.meta_val_str(key).ok().filter(|v| !v.is_empty());
        let architecture = meta("general.architecture").unwrap_or_default();
        let name = meta("general.name").unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let trained = usize::try_from(model.n_ctx_train()).unwrap_or(usize::MAX);
        let context_length = trained
            .min(max_context.unwrap_or(DEFAULT_MAX_CONTEXT))
            .max(1);
        let heads = model.n_head().max(1) as usize;
        let tokenizer = Tokenizer::new(model.clone());
        let special_text =
            |id: Option<u32>| id.and_then(|i| tokenizer.token_text(i)).unwrap_or_default();
        let template = match meta("tokenizer.chat_template") {
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
        Ok(LoadedModel {
            info: ModelInfo {
                path: path.to_path_buf(),
                name,
                architecture,
                context_length,
                layers: model.n_layer() as usize,
                kv_heads: model.n_head_kv() as usize,
                head_dim: usize::try_from(model.n_embd()).unwrap_or(0) / heads,
                file_bytes,
            },
            tokenizer,
            template,
            model,
        })
    }
}

/// One sequence on a model: llama.cpp's context (key/value cache and compute buffers).
pub(crate) struct Session<'m> {
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
}

impl<'m> Session<'m> {
    /// A context of `context_length` tokens on `threads` threads (every core when `None`).
    pub(crate) fn new(
        model: &'m LlamaModel,
        context_length: usize,
        threads: Option<usize>,
    ) -> Result<Self, EngineError> {
        let threads = threads
            .filter(|n| *n > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1);
        let threads = i32::try_from(threads).unwrap_or(i32::MAX);
        let n_ctx = u32::try_from(context_length).unwrap_or(u32::MAX);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(PREFILL_CHUNK as u32)
            .with_n_ubatch(PREFILL_CHUNK as u32)
            .with_n_seq_max(1)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            // f32 keys and values, as llama.cpp's own answers in tests/data were recorded:
            // f16 rounding flips near-ties on small models.
            .with_type_k(KvCacheType::F32)
            .with_type_v(KvCacheType::F32)
            .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
        let ctx = model
            .new_context(backend()?, params)
            .map_err(|e| EngineError::Inference(format!("cannot create the context: {e}")))?;
        Ok(Session {
            ctx,
            batch: LlamaBatch::new(PREFILL_CHUNK, 1),
        })
    }

    /// Runs `prompt` from position 0 (a fresh key/value cache); the next
    /// [`sample`](Self::sample) picks the token after it.
    pub(crate) fn prefill(&mut self, prompt: &[u32]) -> Result<(), EngineError> {
        if prompt.is_empty() {
            return Err(EngineError::InvalidRequest("the prompt is empty".into()));
        }
        self.ctx.clear_kv_cache();
        let last = prompt.len() - 1;
        for (c, chunk) in prompt.chunks(PREFILL_CHUNK).enumerate() {
            let start = c * PREFILL_CHUNK;
            self.batch.clear();
            for (i, id) in chunk.iter().enumerate() {
                self.add(*id, start + i, start + i == last)?;
            }
            self.decode()?;
        }
        Ok(())
    }

    /// Runs one generated token at position `pos`.
    pub(crate) fn step(&mut self, id: u32, pos: usize) -> Result<(), EngineError> {
        self.batch.clear();
        self.add(id, pos, true)?;
        self.decode()
    }

    /// The next token, chosen by `sampler` from the last run's logits.
    pub(crate) fn sample(&mut self, sampler: &mut LlamaSampler) -> Result<u32, EngineError> {
        let token = sampler.sample(&self.ctx, -1);
        u32::try_from(token.0)
            .map_err(|_| EngineError::Inference(format!("the sampler chose token {}", token.0)))
    }

    fn add(&mut self, id: u32, pos: usize, logits: bool) -> Result<(), EngineError> {
        let token = LlamaToken(
            i32::try_from(id)
                .map_err(|_| EngineError::InvalidRequest(format!("token id {id} is invalid")))?,
        );
        let pos = i32::try_from(pos)
            .map_err(|_| EngineError::InvalidRequest("the position is out of range".into()))?;
        self.batch
            .add(token, pos, &[0], logits)
            .map_err(|e| EngineError::Inference(e.to_string()))
    }

    fn decode(&mut self) -> Result<(), EngineError> {
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| EngineError::Inference(format!("llama.cpp decode: {e}")))
    }
}
