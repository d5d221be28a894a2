//! The fake engine's `POST /v1/audio/transcriptions`: no speech recognition at all — the
//! answer is a SIMULATED transcription derived from the uploaded file (its name and size, and
//! for a WAV file its duration from the header), shaped as OpenAI's answers:
//! * `response_format` `json` (default): `{"text": …, "usage": {"type": "duration", "seconds": …}}`;
//! * `verbose_json`: `{"task": "transcribe", "language", "duration", "text", "segments": [], "usage"}`;
//! * `text`: the text alone, `text/plain`;
//! * `stream` (`true`/`1`): server-sent events as OpenAI streams a transcription — one
//!   `transcript.text.delta` event per word, a `transcript.text.done` event with the whole text
//!   and `usage`, then `data: [DONE]`.
//!
//! Like vLLM's, the answer carries no token counts (`usage` is by duration), so the worker's
//! token meter bills nothing for it — as the reference (delta §4.7, §5.2: only token counts
//! in `usage` are billed).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::validate::form::Form;

/// Seconds of audio in a PCM WAV file: the data size over the header's byte rate (bytes
/// 28..32); `None` for anything that is not a RIFF/WAVE file with a non-zero byte rate.
pub(super) fn wav_seconds(data: &[u8]) -> Option<f64> {
    if data.len() < 44 || &data[0..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return None;
    }
    let byte_rate = u32::from_le_bytes(data.get(28..32)?.try_into().ok()?);
    (byte_rate > 0).then(|| (data.len() - 44) as f64 / f64::from(byte_rate))
}

/// The simulated text for an upload.
pub(super) fn simulated_text(filename: &str, bytes: usize) -> String {
    format!("simulated transcription of {filename} ({bytes} bytes)")
}

/// Answers a transcription form.
pub(super) fn answer(headers: &HeaderMap, body: &[u8]) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let form = match Form::parse(content_type, body) {
        Ok(f) => f,
        Err(e) => return super::openai_error(StatusCode::BAD_REQUEST, e.message, e.code),
    };
    let Some(file) = form.get("file") else {
        return super::openai_error(
            StatusCode::BAD_REQUEST,
            "fake engine: the form has no 'file'".to_string(),
            "missing_required_parameter",
        );
    };
    let filename = file.filename().unwrap_or_else(|| "file".to_string());
    let text = simulated_text(&filename, file.data.len());
    let seconds = wav_seconds(&file.data).unwrap_or(0.0);
    let usage = json!({"type": "duration", "seconds": seconds.ceil() as u64});
    let format = form
        .get("response_format")
        .and_then(|p| p.as_text().ok())
        .unwrap_or("json")
        .trim()
        .to_string();
    let stream = form
        .get("stream")
        .and_then(|p| p.as_text().ok())
        .is_some_and(|s| matches!(s.trim(), "1" | "true"));
    if stream {
        return sse_answer(&text, usage);
    }
    match format.as_str() {
        "text" => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        "verbose_json" => json_answer(json!({
            "task": "transcribe",
            "language": form.get("language").and_then(|p| p.as_text().ok()).unwrap_or("english"),
            "duration": seconds,
            "text": text,
            "segments": [],
            "usage": usage,
        })),
        _ => json_answer(json!({"text": text, "usage": usage})),
    }
}

/// OpenAI's transcription stream: a delta per word (with its leading space), the done
/// event, `[DONE]`.
fn sse_answer(text: &str, usage: serde_json::Value) -> Response {
    let mut body = String::new();
    for (i, word) in text.split(' ').enumerate() {
        let delta = if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        };
        let event = json!({"type": "transcript.text.delta", "delta": delta});
        body.push_str(&super::answers::sse_event(&event));
    }
    let done = json!({"type": "transcript.text.done", "text": text, "usage": usage});
    body.push_str(&super::answers::sse_event(&done));
    body.push_str(super::answers::SSE_DONE);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn json_answer(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_duration_comes_from_the_header() {
        // 16 kHz mono 16-bit: 32000 bytes per second; 1.5 s of silence.
        let mut wav = vec![0u8; 44 + 48_000];
        wav[0..4].copy_from_slice(b"RIFF");
        wav[8..12].copy_from_slice(b"WAVE");
        wav[28..32].copy_from_slice(&32_000u32.to_le_bytes());
        assert_eq!(wav_seconds(&wav), Some(1.5));
        assert_eq!(wav_seconds(b"RIFF"), None);
        assert_eq!(wav_seconds(&[0u8; 100]), None);
    }
}
