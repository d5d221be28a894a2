//! OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`) read into a
//! [`GenerateRequest`]: every field this engine honours is checked, a field it cannot honour
//! (`n` > 1) is refused with a clear message, other fields are ignored as OpenAI-compatible
//! servers do.

use serde_json::Value;

use crate::chat_template::ChatMessage;
use crate::engine::{Engine, GenerateRequest};
use crate::error::EngineError;
use crate::sampling::SamplingParams;

/// Most stop strings per request.
pub const MAX_STOPS: usize = 16;

/// Which API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    Chat,
    Completion,
}

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    pub kind: ApiKind,
    pub generate: GenerateRequest,
    pub stream: bool,
    pub include_usage: bool,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidRequest(msg.into())
}

fn number(body: &Value, key: &str) -> Result<Option<f64>, EngineError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a number"))),
    }
}

fn count(body: &Value, key: &str) -> Result<Option<usize>, EngineError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a non-negative integer"))),
    }
}

fn stops(body: &Value) -> Result<Vec<String>, EngineError> {
    let list = match body.get("stop") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("stop must be a string or an array of strings"))?,
        Some(_) => return Err(invalid("stop must be a string or an array of strings")),
    };
    if list.len() > MAX_STOPS {
        return Err(invalid(format!("at most {MAX_STOPS} stop strings")));
    }
    Ok(list)
}

/// A message's `content`: a string, or an array of `{"type":"text","text":…}` parts.
fn content_text(content: &Value) -> Result<String, EngineError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for part in parts {
                match (part.get("type").and_then(Value::as_str), part.get("text")) {
                    (Some("text"), Some(Value::String(t))) => out.push_str(t),
                    _ => return Err(invalid(
                        "only text content parts ({\"type\":\"text\",\"text\":…}) are supported",
                    )),
                }
            }
            Ok(out)
        }
        _ => Err(invalid(
            "message content must be a string or an array of parts",
        )),
    }
}

fn messages(body: &Value) -> Result<Vec<ChatMessage>, EngineError> {
    let list = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages must be an array"))?;
    if list.is_empty() {
        return Err(invalid("messages must not be empty"));
    }
    list.iter()
        .map(|m| {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("every message needs a role"))?;
            Ok(ChatMessage {
                role: role.to_string(),
                content: content_text(m.get("content").unwrap_or(&Value::Null))?,
            })
        })
        .collect()
}

/// `prompt`: a string, an array of one string, or an array of token ids.
fn prompt_ids(body: &Value, engine: &Engine) -> Result<Vec<u32>, EngineError> {
    let vocab = engine.vocab_size();
    match body.get("prompt") {
        Some(Value::String(s)) => engine.encode_text(s),
        Some(Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
            engine.encode_text(items[0].as_str().unwrap_or_default())
        }
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_u64) => items
            .iter()
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (*n as usize) < vocab)
                    .ok_or_else(|| invalid(format!("token ids must be below {vocab}")))
            })
            .collect(),
        _ => Err(invalid(
            "prompt must be a string, an array of one string, or an array of token ids",
        )),
    }
}

/// Reads and checks a request body.
pub fn parse(kind: ApiKind, body: &[u8], engine: &Engine) -> Result<ParsedRequest, EngineError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    if !body.is_object() {
        return Err(invalid("the body must be a JSON object"));
    }
    if let Some(n) = count(&body, "n")? {
        if n != 1 {
            return Err(invalid(
                "n must be 1 (this engine makes one choice per request)",
            ));
        }
    }
    let defaults = SamplingParams::default();
    let sampling = SamplingParams {
        temperature: number(&body, "temperature")?.unwrap_or(defaults.temperature),
        top_p: number(&body, "top_p")?.unwrap_or(defaults.top_p),
        seed: match body.get("seed") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .map(|n| n as u64)
                    .or_else(|| v.as_u64())
                    .ok_or_else(|| invalid("seed must be an integer"))?,
            ),
        },
    };
    let max_tokens = match count(&body, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => count(&body, "max_tokens")?,
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream must be true or false")),
    };
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let prompt = match kind {
        ApiKind::Chat => engine.encode_chat(&messages(&body)?)?,
        ApiKind::Completion => prompt_ids(&body, engine)?,
    };
    Ok(ParsedRequest {
        kind,
        generate: GenerateRequest {
            prompt,
            max_tokens,
            sampling,
            stop: stops(&body)?,
        },
        stream,
        include_usage,
    })
}
