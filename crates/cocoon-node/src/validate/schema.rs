//! The worker's schema walker (delta-2026-04.md §4.3–§4.6): read-only checks of a chat or
//! completions body, rejecting unknown members at every level. Deviations from the reference are
//! numbered as in the parent module's doc.
//!
//! Paths are built as the reference builds them: `""` for the root, `.name` per member, `[i]` per
//! array element. Recursion follows the fixed schema (at most a few levels), never the input.

use serde_json::Value;

use super::walker::{
    anything, array_of, boolean, integer, integer_or_boolean, invalid_value, member_path, number,
    shown, string, string_array, string_or_integer, string_or_string_array, Obj,
};
use super::{RequestError, ENVELOPE_FIELDS};

/// Message content: a string or an array of content parts.
fn content(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_array() {
        array_of(v, path, &content_part)
    } else {
        string(v, path)
    }
}

fn content_part(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    let part_type = o.required_string("type")?;
    if part_type.len() >= 128 {
        return Err(invalid_value(
            &member_path(path, "type"),
            format!("{path}.type must be a string not longer than 128 chars"),
        ));
    }
    // The reference's dispatch: a `refusal` member first, then substrings of `type`.
    if o.has("refusal") {
        o.field("refusal", true, &string)?;
    } else if part_type.contains("text") {
        o.field("text", true, &string)?;
    } else if part_type.contains("image") {
        // Deviation 2: OpenAI's `image_url`, or the reference's `image`.
        if o.has("image") && !o.has("image_url") {
            o.field("image", true, &image_url)?;
        } else {
            o.field("image_url", true, &image_url)?;
        }
    } else if part_type.contains("audio") {
        o.field("input_audio", true, &|v, p| {
            let mut a = Obj::new(v, p)?;
            a.field("format", true, &string)?;
            a.field("data", true, &string)?; // deviation 3
            a.finish()
        })?;
    } else if part_type.contains("file") {
        o.field("file", true, &|v, p| {
            let mut f = Obj::new(v, p)?;
            f.field("file_data", false, &string)?; // deviation 3
            f.field("file_id", false, &string)?;
            f.field("filename", false, &string)?;
            f.finish()
        })?;
    } else {
        return Err(invalid_value(
            path,
            format!("{} has unknown type {part_type}", shown(path)),
        ));
    }
    o.finish()
}

fn image_url(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    o.field("url", true, &string)?;
    o.field("detail", false, &string)?;
    o.finish()
}

fn function_call(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    o.field("arguments", true, &string)?;
    o.field("name", true, &string)?;
    o.finish()
}

fn tool_call(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    let call_type = o.required_string("type")?;
    match call_type {
        "function" => {
            o.field("id", true, &string)?;
            o.field("function", true, &function_call)?;
        }
        "custom" => {
            o.field("id", true, &string)?;
            o.field("custom", true, &|v, p| {
                let mut c = Obj::new(v, p)?;
                c.field("input", true, &string)?;
                c.field("name", true, &string)?;
                c.finish()
            })?;
        }
        other => {
            return Err(invalid_value(
                path,
                format!("{} has unknown type {other}", shown(path)),
            ))
        }
    }
    o.finish()
}

fn message(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    let role = o.required_string("role")?;
    match role {
        "developer" | "system" | "user" => {
            o.field("content", true, &content)?;
            o.field("name", false, &string)?;
        }
        "assistant" => {
            o.field("audio", false, &|v, p| {
                let mut a = Obj::new(v, p)?;
                a.field("id", true, &string)?;
                a.finish()
            })?;
            o.field("content", false, &content)?; // deviation 7 (null) via Obj::field
            o.field("function_call", false, &function_call)?;
            o.field("name", false, &string)?;
            o.field("refusal", false, &string)?;
            o.field("tool_calls", false, &|v, p| array_of(v, p, &tool_call))?;
        }
        "tool" => {
            o.field("tool_call_id", true, &string)?;
            o.field("content", true, &content)?;
        }
        "function" => {
            o.field("name", true, &string)?;
            o.field("content", true, &string)?;
        }
        other => {
            return Err(invalid_value(
                path,
                format!("{} has unknown role {other}", shown(path)),
            ))
        }
    }
    o.finish()
}

fn stream_options(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    o.field("include_obfuscation", false, &boolean)?;
    o.field("include_usage", false, &boolean)?;
    o.finish()
}

fn chat_template_kwargs(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    o.field("enable_thinking", false, &boolean)?;
    o.finish()
}

fn prediction(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    o.field("type", true, &string)?;
    o.field("content", true, &content)?;
    o.finish()
}

fn audio_output(v: &Value, path: &str) -> Result<(), RequestError> {
    let mut o = Obj::new(v, path)?;
    o.field("format", true, &string)?;
    o.field("voice", true, &|v, p| {
        if v.is_object() {
            // Deviation 8: the `{id}` form.
            let mut voice = Obj::new(v, p)?;
            voice.field("id", true, &string)?;
            voice.finish()
        } else {
            string(v, p)
        }
    })?;
    o.finish()
}

fn root_object(value: &Value) -> Result<Obj<'_>, RequestError> {
    let mut o = Obj::new(value, "").map_err(|_| super::not_an_object())?;
    for name in ENVELOPE_FIELDS {
        o.mark_known(name);
    }
    Ok(o)
}

/// Checks a `/v1/chat/completions` body (delta §4.4, §4.5); returns its `model`.
pub(super) fn check_chat_completions(value: &Value) -> Result<String, RequestError> {
    let mut o = root_object(value)?;
    o.field("messages", true, &|v, p| array_of(v, p, &message))?;
    let model = o.required_string("model")?.to_string();
    o.field("audio", false, &audio_output)?;
    o.field("frequency_penalty", false, &number)?;
    o.field("logprobs", false, &boolean)?;
    o.field("max_completion_tokens", false, &integer)?;
    o.field("max_tokens", false, &integer)?;
    o.field("modalities", false, &string_array)?;
    o.field("n", false, &integer)?;
    o.field("parallel_tool_calls", false, &boolean)?;
    o.field("prediction", false, &prediction)?;
    o.field("presence_penalty", false, &number)?;
    o.field("prompt_cache_key", false, &string)?;
    o.field("prompt_cache_retention", false, &string)?;
    o.field("reasoning_effort", false, &string)?;
    o.field("response_format", false, &anything)?;
    o.field("safety_identifier", false, &string)?;
    o.field("seed", false, &integer)?;
    o.field("service_tier", false, &string_or_integer)?;
    o.field("stop", false, &string_or_string_array)?;
    o.field("store", false, &boolean)?;
    o.field("stream", false, &boolean)?;
    o.field("stream_options", false, &stream_options)?;
    o.field("temperature", false, &number)?;
    o.field("top_logprobs", false, &integer)?;
    o.field("top_p", false, &number)?;
    o.field("user", false, &string)?;
    o.field("verbosity", false, &string)?;
    o.field("skip_special_tokens", false, &boolean)?;
    o.field("chat_template_kwargs", false, &chat_template_kwargs)?;
    o.finish()?;
    Ok(model)
}

/// Checks a `/v1/completions` body (delta §4.6); returns its `model`.
pub(super) fn check_completions(value: &Value) -> Result<String, RequestError> {
    let mut o = root_object(value)?;
    let model = o.required_string("model")?.to_string();
    o.field("prompt", true, &string_or_string_array)?;
    o.field("best_of", false, &integer)?;
    o.field("echo", false, &boolean)?;
    o.field("frequency_penalty", false, &number)?;
    o.field("logprobs", false, &integer_or_boolean)?;
    o.field("max_completion_tokens", false, &integer)?;
    o.field("max_tokens", false, &integer)?;
    o.field("n", false, &integer)?;
    o.field("presence_penalty", false, &number)?;
    o.field("seed", false, &integer)?;
    o.field("stop", false, &string_or_string_array)?;
    o.field("stream", false, &boolean)?;
    o.field("stream_options", false, &stream_options)?;
    o.field("suffix", false, &string)?;
    o.field("temperature", false, &number)?;
    o.field("top_p", false, &number)?;
    o.field("user", false, &string)?;
    o.field("skip_special_tokens", false, &boolean)?;
    o.finish()?;
    Ok(model)
}
