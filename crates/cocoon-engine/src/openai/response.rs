//! OpenAI answer objects: `chat.completion` / `text_completion`, and their streamed chunks as
//! server-sent events.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::ApiKind;
use crate::engine::{Event, FinishReason, Usage};

/// `data: [DONE]`, the last event of a stream.
pub const SSE_DONE: &str = "data: [DONE]\n\n";

/// The answer to one request, built as its events arrive.
pub struct Answer {
    kind: ApiKind,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    role_sent: bool,
}

/// `usage` as OpenAI writes it.
pub fn usage_json(u: Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

fn sse(v: &Value) -> String {
    format!("data: {v}\n\n")
}

impl Answer {
    pub fn new(kind: ApiKind, n: u64, model: String, include_usage: bool) -> Self {
        let prefix = match kind {
            ApiKind::Chat => "chatcmpl-local",
            ApiKind::Completion => "cmpl-local",
        };
        Answer {
            kind,
            id: format!("{prefix}-{n}"),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            model,
            include_usage,
            role_sent: false,
        }
    }

    /// The whole answer (not streamed).
    pub fn full(&self, text: &str, finish: FinishReason, usage: Usage) -> Value {
        let choice = match self.kind {
            ApiKind::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": null,
                "finish_reason": finish.as_str(),
            }),
            ApiKind::Completion => json!({
                "index": 0, "text": text, "logprobs": null, "finish_reason": finish.as_str(),
            }),
        };
        json!({
            "id": self.id,
            "object": match self.kind { ApiKind::Chat => "chat.completion", ApiKind::Completion => "text_completion" },
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage_json(usage),
        })
    }

    fn chunk(&self, choices: Value, usage: Option<Usage>) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": match self.kind { ApiKind::Chat => "chat.completion.chunk", ApiKind::Completion => "text_completion" },
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if self.include_usage {
            v["usage"] = usage.map_or(Value::Null, usage_json);
        }
        v
    }

    fn text_chunk(&self, text: &str, finish: Option<FinishReason>) -> Value {
        let finish = finish.map(FinishReason::as_str);
        let choice = match self.kind {
            ApiKind::Chat if finish.is_some() && text.is_empty() => {
                json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish})
            }
            ApiKind::Chat => {
                json!({"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": finish})
            }
            ApiKind::Completion => {
                json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish})
            }
        };
        self.chunk(json!([choice]), None)
    }

    /// The server-sent events for `event` (`None`: the engine stopped), and whether the
    /// stream is over.
    pub fn sse_for(&mut self, event: Option<Event>) -> (String, bool) {
        let mut out = String::new();
        if !self.role_sent && self.kind == ApiKind::Chat {
            self.role_sent = true;
            out.push_str(&sse(&self.chunk(
                json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
                None,
            )));
        }
        match event {
            Some(Event::Token { text, .. }) => {
                if !text.is_empty() {
                    out.push_str(&sse(&self.text_chunk(&text, None)));
                }
                (out, false)
            }
            Some(Event::Done {
                text,
                finish,
                usage,
            }) => {
                if !text.is_empty() {
                    out.push_str(&sse(&self.text_chunk(&text, None)));
                }
                out.push_str(&sse(&self.text_chunk("", Some(finish))));
                if self.include_usage {
                    out.push_str(&sse(&self.chunk(json!([]), Some(usage))));
                }
                out.push_str(SSE_DONE);
                (out, true)
            }
            Some(Event::Failed(message)) => {
                out.push_str(&sse(&json!({"error": {"message": message, "type": "server_error", "code": "engine_error"}})));
                (out, true)
            }
            None => {
                out.push_str(&sse(&json!({"error": {"message": "the engine stopped", "type": "server_error", "code": "engine_error"}})));
                (out, true)
            }
        }
    }
}
