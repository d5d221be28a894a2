//! The fake engine's answer bodies: OpenAI objects (`chat.completion`, `text_completion` and their
//! streamed chunks) and the reference benchmark's NDJSON lines.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{Answer, FakeUsage};

/// Which OpenAI endpoint an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApiKind {
    Chat,
    Completion,
}

/// Everything needed to render one answer.
#[derive(Debug, Clone)]
pub(super) struct AnswerPlan {
    pub kind: ApiKind,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub answer: Answer,
    pub usage: FakeUsage,
    pub include_usage: bool,
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn usage_json(u: &FakeUsage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens.saturating_add(u.completion_tokens),
        "prompt_tokens_details": { "cached_tokens": u.cached_tokens },
        "completion_tokens_details": { "reasoning_tokens": u.reasoning_tokens },
    })
}

/// The content of chunk `i`: `chunk_bytes` ASCII zeros, as the reference benchmark server.
pub(super) fn chunk_text(answer: &Answer) -> String {
    "0".repeat(answer.chunk_bytes)
}

impl AnswerPlan {
    fn object_name(&self, streamed: bool) -> &'static str {
        match (self.kind, streamed) {
            (ApiKind::Chat, false) => "chat.completion",
            (ApiKind::Chat, true) => "chat.completion.chunk",
            (ApiKind::Completion, _) => "text_completion",
        }
    }

    /// The non-streamed answer: a complete `chat.completion` / `text_completion` object.
    pub(super) fn full_answer(&self) -> Value {
        let text = chunk_text(&self.answer).repeat(self.answer.chunks);
        let choice = match self.kind {
            ApiKind::Chat => json!({
                "index": 0,
                "message": { "role": "assistant", "content": text },
                "logprobs": null,
                "finish_reason": "stop",
            }),
            ApiKind::Completion => json!({
                "index": 0,
                "text": text,
                "logprobs": null,
                "finish_reason": "stop",
            }),
        };
        json!({
            "id": self.id,
            "object": self.object_name(false),
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage_json(&self.usage),
        })
    }

    /// One streamed chunk with the given choices; with `include_usage`, non-final chunks carry
    /// `"usage": null` as OpenAI's do.
    fn chunk(&self, choices: Value, usage: Option<Value>) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": self.object_name(true),
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if self.include_usage {
            if let Value::Object(map) = &mut v {
                map.insert("usage".to_string(), usage.unwrap_or(Value::Null));
            }
        }
        v
    }

    /// The first chunk of a chat stream (the assistant role, empty content); `None` for
    /// completions, which have no such chunk.
    pub(super) fn role_chunk(&self) -> Option<Value> {
        match self.kind {
            ApiKind::Chat => Some(self.chunk(
                json!([{
                    "index": 0,
                    "delta": { "role": "assistant", "content": "" },
                    "logprobs": null,
                    "finish_reason": null,
                }]),
                None,
            )),
            ApiKind::Completion => None,
        }
    }

    /// A content chunk.
    pub(super) fn content_chunk(&self) -> Value {
        let text = chunk_text(&self.answer);
        let choice = match self.kind {
            ApiKind::Chat => json!({
                "index": 0,
                "delta": { "content": text },
                "logprobs": null,
                "finish_reason": null,
            }),
            ApiKind::Completion => json!({
                "index": 0,
                "text": text,
                "logprobs": null,
                "finish_reason": null,
            }),
        };
        self.chunk(json!([choice]), None)
    }

    /// The chunk carrying `finish_reason: "stop"`.
    pub(super) fn finish_chunk(&self) -> Value {
        let choice = match self.kind {
            ApiKind::Chat => json!({
                "index": 0,
                "delta": {},
                "logprobs": null,
                "finish_reason": "stop",
            }),
            ApiKind::Completion => json!({
                "index": 0,
                "text": "",
                "logprobs": null,
                "finish_reason": "stop",
            }),
        };
        self.chunk(json!([choice]), None)
    }

    /// The usage chunk (empty `choices`), sent only with `stream_options.include_usage`.
    pub(super) fn usage_chunk(&self) -> Option<Value> {
        self.include_usage
            .then(|| self.chunk(json!([]), Some(usage_json(&self.usage))))
    }
}

/// `data: <json>\n\n`.
pub(super) fn sse_event(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// The SSE terminator.
pub(super) const SSE_DONE: &str = "data: [DONE]\n\n";

/// The reference benchmark server's first line (`benchmark/server.go` at 9060ce5).
pub(super) fn ndjson_header(answer: &Answer, delay_ms: u64) -> String {
    format!(
        "{{\"chunks\":{},\"bytes\":{},\"delay\":{}}}\n",
        answer.chunks, answer.chunk_bytes, delay_ms
    )
}

/// The reference benchmark server's chunk line `i`.
pub(super) fn ndjson_chunk(answer: &Answer, i: usize) -> String {
    format!("{{\"delta\":\"{}\",\"i\":{i}}}\n", chunk_text(answer))
}

/// The reference benchmark server's final line, keys in its order.
pub(super) fn ndjson_usage(u: &FakeUsage) -> String {
    format!(
        "{{\"usage\":{{\"prompt_tokens\":{},\"total_tokens\":{},\"completion_tokens\":{},\
         \"completion_tokens_details\":{{\"reasoning_tokens\":{}}},\
         \"prompt_tokens_details\":{{\"cached_tokens\":{}}}}}}}\n",
        u.prompt_tokens,
        u.prompt_tokens.saturating_add(u.completion_tokens),
        u.completion_tokens,
        u.reasoning_tokens,
        u.cached_tokens
    )
}
