//! The engine's errors: what went wrong loading a model or serving a request, each with a
//! message meant for the person who sent it.

/// An engine error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model file could not be read or is not a GGUF model this engine runs.
    #[error("model {path}: {message}")]
    Model { path: String, message: String },
    /// The request cannot be served as asked (bad parameters, prompt too long, …).
    #[error("{0}")]
    InvalidRequest(String),
    /// The queue of waiting requests is full: try again later.
    #[error("the engine is busy: {0} requests are already waiting")]
    Busy(usize),
    /// The engine has stopped (its thread ended).
    #[error("the engine has stopped")]
    Stopped,
    /// Inference failed inside the library.
    #[error("inference failed: {0}")]
    Inference(String),
}

impl EngineError {
    pub(crate) fn model(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        EngineError::Model {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}
