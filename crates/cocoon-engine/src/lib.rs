//! cocoon-engine: an embedded inference engine for GGUF models on the CPU — llama.cpp (through
//! the `llama-cpp-2` bindings) behind an OpenAI-compatible interface; see docs/local-engine.md
//! for why llama.cpp and for the numbers.
//!
//! * [`Engine`]: one model on one thread behind a bounded request queue; requests stream
//!   [`Event`]s (tokens, then the finish reason and the real token usage) and are cancelled by
//!   dropping their receiver.
//! * [`openai::router`]: the engine behind OpenAI's HTTP API (`/v1/models`,
//!   `/v1/chat/completions`, `/v1/completions`, streamed or not) — served over TCP by
//!   `cocoon backend local` and called in-process by a worker with `--engine local:FILE`.
//! * The tokenizer ([`tokenizer`], llama.cpp's) and chat template ([`chat_template`], rendered
//!   with minijinja) come from the GGUF file's own metadata.
//! * Models are local files, or downloaded by name from the Hugging Face hub ([`hub`]) into
//!   the model cache ([`model_cache`]).

pub mod chat_template;
pub mod engine;
pub mod error;
pub mod hub;
pub mod model;
pub mod model_cache;
pub mod openai;
pub mod sampling;
pub mod text_stream;
pub mod tokenizer;

pub use chat_template::ChatMessage;
pub use engine::{Engine, EngineOptions, EngineStats, Event, FinishReason, GenerateRequest, Usage};
pub use error::EngineError;
pub use model::ModelInfo;
pub use sampling::SamplingParams;
