//! cocoon-engine: an embedded inference engine for GGUF models, on the CPU, in pure Rust
//! (candle's quantized models; see docs/local-engine.md for why candle and for the numbers).
//!
//! * [`Engine`]: one model on one thread behind a bounded request queue; requests stream
//!   [`Event`]s (tokens, then the finish reason and the real token usage) and are cancelled by
//!   dropping their receiver.
//! * [`openai::router`]: the engine behind OpenAI's HTTP API (`/v1/models`,
//!   `/v1/chat/completions`, `/v1/completions`, streamed or not) — served over TCP by
//!   `cocoon backend local` and called in-process by a worker with `--engine local:FILE`.
//! * The tokenizer ([`gguf_tokenizer`]) and chat template ([`chat_template`]) come from the
//!   GGUF file's own metadata.

pub mod chat_template;
pub mod engine;
pub mod error;
pub mod gguf_tokenizer;
pub mod model;
pub mod model_cache;
pub mod openai;
pub mod sampling;
pub mod text_stream;

pub use chat_template::ChatMessage;
pub use engine::{Engine, EngineOptions, EngineStats, Event, FinishReason, GenerateRequest, Usage};
pub use error::EngineError;
pub use model::ModelInfo;
pub use sampling::SamplingParams;

/// Sets the number of CPU threads inference uses (candle reads it once, at its first use):
/// call before loading a model. `None` leaves candle's default (every core).
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads.filter(|n| *n > 0) {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    }
}
