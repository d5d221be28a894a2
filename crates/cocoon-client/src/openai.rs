//! OpenAI-shaped request and answer types (`/v1/chat/completions`), serde both ways.
//!
//! Deserialisation is lenient: every field has a default and members this crate does not
//! model are kept in `extra`, so an engine's additions (logprobs, cost fields, reasoning)
//! are neither lost nor an error.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "system".into(),
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "user".into(),
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "assistant".into(),
            content: content.into(),
        }
    }
}

/// A chat completion request. `stream` is set by the call ([`crate::Cocoon::chat`] streams,
/// [`crate::Cocoon::chat_once`] does not); any other OpenAI or COCOON member
/// (`temperature`, `max_coefficient`, `timeout`, …) goes into `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request for `model` with no messages yet.
    pub fn new(model: impl Into<String>) -> Self {
        ChatRequest {
            model: model.into(),
            messages: Vec::new(),
            max_tokens: None,
            extra: Map::new(),
        }
    }

    /// Adds a user message.
    pub fn user(mut self, content: impl Into<String>) -> Self {
        self.messages.push(ChatMessage::user(content));
        self
    }

    /// Adds a system message.
    pub fn system(mut self, content: impl Into<String>) -> Self {
        self.messages.push(ChatMessage::system(content));
        self
    }

    /// Sets any other member (`temperature`, `max_coefficient`, `timeout`, …).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }
}

/// Token counts as the engine reports them (`usage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a streamed choice adds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One choice of a streamed chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: ChunkDelta,
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `chat.completion.chunk` of a streamed answer (decrypted, envelope fields removed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatChunk {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatChunk {
    /// The text this chunk adds (the content of every choice, in order).
    pub fn text(&self) -> String {
        self.choices
            .iter()
            .filter_map(|c| c.delta.content.as_deref())
            .collect()
    }
}

/// One choice of a whole (non-streamed) completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: Option<ChatMessage>,
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `chat.completion` (the answer of [`crate::Cocoon::chat_once`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatCompletion {
    /// The first choice's message text.
    pub fn text(&self) -> &str {
        self.choices
            .first()
            .and_then(|c| c.message.as_ref())
            .map(|m| m.content.as_str())
            .unwrap_or_default()
    }
}

/// The tokens the network billed for a request (the proxy's final accounting, which is
/// what the client contract is charged for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensBilled {
    pub prompt: u64,
    pub cached: u64,
    pub completion: u64,
    pub reasoning: u64,
    pub total: u64,
}

impl TokensBilled {
    pub(crate) fn from_wire(t: &cocoon_wire::schema::types::TokensUsed) -> Self {
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        TokensBilled {
            prompt: u(t.prompt_tokens_used),
            cached: u(t.cached_tokens_used),
            completion: u(t.completion_tokens_used),
            reasoning: u(t.reasoning_tokens_used),
            total: u(t.total_tokens_used),
        }
    }
}
