//! `multipart/form-data` bodies (`/v1/audio/transcriptions`, delta-2026-04.md §4.7, §4.9):
//! parsing with the `multer` crate, the transcription schema, and the re-serialisation the
//! reference does (parts in lexicographic name order, each part's headers kept verbatim, the
//! caller's boundary kept).
//!
//! The same [`Form`] and [`check_transcription_form`] serve the client (which takes out the
//! cocoon control fields and injects `max_tokens`) and the worker (which checks the schema and
//! the model again and rewrites `max_tokens`): one validation model.
//!
//! Deviations from the reference (acceptances of valid OpenAI input; a reference client
//! forwards forms without looking at them, so none can break a reference peer):
//!
//! 1. The boundary is found by a real `Content-Type` parser: `multipart/form-data;boundary=x`
//!    (no space) is accepted (the reference needs a space, §8.16).
//! 2. The array fields (`include`, `known_speaker_names`, `known_speaker_references`,
//!    `timestamp_granularities`) are accepted under OpenAI's multipart spelling `name[]`, and
//!    every repetition of such a field is kept (the reference rejects them always, §8.15, and
//!    keeps only the last part of a repeated name).
//! 3. `stream` may be `true`/`false` (what OpenAI's SDKs send) as well as `1`/`0`.
//! 4. `response_format` may be `json`, `text` or `verbose_json` (the reference allows only
//!    `json`, with a 602 / HTTP 500); any other value is a 400.
//!
//! Bounds: the whole body at most [`MAX_REQUEST_BODY_BYTES`] (the client's port takes at most
//! [`MAX_FORM_BODY_BYTES`]), at most [`MAX_FORM_PARTS`] parts, a
//! part's headers as `multer` bounds them. Untrusted bytes never panic: every failure is a
//! [`RequestError`].

use bytes::Bytes;
use futures::FutureExt as _;

use super::{RequestError, ENVELOPE_FIELDS, MAX_REQUEST_BODY_BYTES};

/// Largest `multipart/form-data` body a caller may send to the client's port (the audio
/// upload and its fields). OpenAI allows 25 MB; a cocoon request travels in one wire frame of
/// at most 16 MiB, so 15 MiB leaves room for what the client adds (`max_tokens`), the
/// request's headers and the TL envelopes around it. [`Form::parse`] itself takes up to
/// [`MAX_REQUEST_BODY_BYTES`] (the frame), so the worker accepts what a client sends.
pub const MAX_FORM_BODY_BYTES: usize = 15 * 1024 * 1024;
/// Most parts in one form.
pub const MAX_FORM_PARTS: usize = 64;

/// One part of a form: its name, its header lines as sent, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    /// The `name` parameter of its `Content-Disposition`.
    pub name: String,
    /// Its headers, in order, as `(name, value)` (names as `multer` gives them: lower case).
    pub headers: Vec<(String, String)>,
    /// The value (for `file`, the uploaded bytes).
    pub data: Bytes,
}

impl FormPart {
    /// A text field created here, with the single `Content-Disposition` header (§4.9).
    pub fn text(name: &str, value: &str) -> FormPart {
        FormPart {
            name: name.to_string(),
            headers: vec![(
                "Content-Disposition".to_string(),
                format!("form-data; name=\"{name}\""),
            )],
            data: Bytes::copy_from_slice(value.as_bytes()),
        }
    }

    /// The value as UTF-8 text.
    pub fn as_text(&self) -> Result<&str, RequestError> {
        std::str::from_utf8(&self.data).map_err(|_| {
            RequestError::invalid(
                "invalid_type",
                Some(self.name.clone()),
                format!("request.{} must be a string", self.name),
            )
        })
    }

    /// The `filename` of an uploaded file, if the part has one.
    pub fn filename(&self) -> Option<String> {
        let (_, disposition) = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-disposition"))?;
        disposition.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("filename")
                .then(|| v.trim().trim_matches('"').to_string())
        })
    }
}

/// A parsed form: its boundary and its parts, ordered by name (repetitions of an array field
/// `name[]` kept in their order; any other repeated name keeps its last part, as the
/// reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The caller's boundary, used again when the form is written out.
    pub boundary: String,
    parts: Vec<FormPart>,
}

fn cannot_parse(detail: impl std::fmt::Display) -> RequestError {
    RequestError::invalid(
        "invalid_multipart",
        None,
        format!("cannot parse form multipart data: {detail}"),
    )
}

fn too_large() -> RequestError {
    let mut e = RequestError::invalid(
        "request_too_large",
        None,
        format!("request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
    );
    e.http_status = 413;
    e
}

impl Form {
    /// Parses `body` sent with `content_type` (which must be `multipart/form-data` with a
    /// boundary).
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Form, RequestError> {
        if body.len() > MAX_REQUEST_BODY_BYTES {
            return Err(too_large());
        }
        let content_type = content_type.unwrap_or("");
        if !content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
        {
            return Err(RequestError::invalid(
                "invalid_content_type",
                None,
                format!("expected a multipart/form-data body, got content type {content_type:?}"),
            ));
        }
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            RequestError::invalid(
                "invalid_content_type",
                None,
                "cannot find boundary in content type".to_string(),
            )
        })?;
        let constraints = multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().whole_stream(MAX_REQUEST_BODY_BYTES as u64));
        let source = futures::stream::once(futures::future::ready(Ok::<_, std::io::Error>(
            Bytes::copy_from_slice(body),
        )));
        let mut multipart = multer::Multipart::with_constraints(source, &boundary, constraints);
        // The whole body is in memory: every future below is ready at its first poll.
        let parts = async {
            let mut parts: Vec<FormPart> = Vec::new();
            while let Some(field) = multipart.next_field().await.map_err(cannot_parse)? {
                if parts.len() >= MAX_FORM_PARTS {
                    return Err(cannot_parse(format!("more than {MAX_FORM_PARTS} parts")));
                }
                let Some(name) = field.name().map(str::to_owned) else {
                    // Parts without a name are ignored (§4.9).
                    let _ = field.bytes().await.map_err(cannot_parse)?;
                    continue;
                };
                let headers = field
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                let data = field.bytes().await.map_err(cannot_parse)?;
                parts.push(FormPart {
                    name,
                    headers,
                    data,
                });
            }
            Ok(parts)
        }
        .now_or_never()
        .unwrap_or_else(|| Err(cannot_parse("incomplete body")))?;
        let mut form = Form {
            boundary,
            parts: Vec::with_capacity(parts.len()),
        };
        for part in parts {
            form.insert(part);
        }
        Ok(form)
    }

    /// Adds a part in name order; a part of the same name is replaced unless the name is an
    /// array field's (`name[]`).
    pub fn insert(&mut self, part: FormPart) {
        if !part.name.ends_with("[]") {
            self.parts.retain(|p| p.name != part.name);
        }
        let at = self.parts.partition_point(|p| p.name <= part.name);
        self.parts.insert(at, part);
    }

    /// The (last) part called `name`.
    pub fn get(&self, name: &str) -> Option<&FormPart> {
        self.parts.iter().rev().find(|p| p.name == name)
    }

    /// Takes out every part called `name`; returns the last.
    pub fn remove(&mut self, name: &str) -> Option<FormPart> {
        let mut taken = None;
        self.parts.retain(|p| {
            if p.name == name {
                taken = Some(p.clone());
                false
            } else {
                true
            }
        });
        taken
    }

    /// The parts, in name order.
    pub fn parts(&self) -> &[FormPart] {
        &self.parts
    }

    /// The `Content-Type` of the written form, spelled so the reference's parser finds the
    /// boundary (a space before `boundary=`, §4.9; quoted unless it is a plain token).
    pub fn content_type(&self) -> String {
        let plain = self
            .boundary
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"'+-._".contains(&b));
        if plain {
            format!("multipart/form-data; boundary={}", self.boundary)
        } else {
            format!("multipart/form-data; boundary=\"{}\"", self.boundary)
        }
    }

    /// The form written out as §4.9: per part `--B\r\n`, its header lines, an empty line, the
    /// value, `\r\n`; then `--B--\r\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let size: usize = self.parts.iter().map(|p| p.data.len() + 256).sum();
        let mut out = Vec::with_capacity(size + self.boundary.len() + 8);
        for part in &self.parts {
            out.extend_from_slice(b"--");
            out.extend_from_slice(self.boundary.as_bytes());
            out.extend_from_slice(b"\r\n");
            for (name, value) in &part.headers {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&part.data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(self.boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
        out
    }
}

/// The `response_format`s accepted (deviation 4).
pub const TRANSCRIPTION_RESPONSE_FORMATS: [&str; 3] = ["json", "text", "verbose_json"];

/// What a transcription form asks for, once its schema is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionRequest {
    /// `model`.
    pub model: String,
    /// `stream` (`1` or `true`).
    pub stream: bool,
}

fn field_error(name: &str, what: &str) -> RequestError {
    RequestError::invalid(
        "invalid_type",
        Some(name.to_string()),
        format!("request.{name} must be {what}"),
    )
}

/// Decimal 64-bit integer text (§4.3, multipart mode).
fn is_integer_text(s: &str) -> bool {
    s.trim().parse::<i64>().is_ok()
}

fn parse_stream(part: &FormPart) -> Result<bool, RequestError> {
    match part.as_text()?.trim() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(field_error(&part.name, "a boolean (0, 1, true or false)")),
    }
}

/// Checks a `/v1/audio/transcriptions` form against the schema of delta §4.7 (with the
/// deviations of this module): `model` and `file` required, every other part known and of its
/// type, the envelope fields allowed.
pub fn check_transcription_form(form: &Form) -> Result<TranscriptionRequest, RequestError> {
    let mut stream = false;
    for part in form.parts() {
        let name = part.name.as_str();
        match name {
            "file" => {}
            "model" | "chunking_strategy" | "language" | "prompt" | "stream_options" => {
                part.as_text()?;
            }
            "include[]"
            | "known_speaker_names[]"
            | "known_speaker_references[]"
            | "timestamp_granularities[]" => {
                part.as_text()?;
            }
            "max_completion_tokens" | "max_tokens" => {
                if !is_integer_text(part.as_text()?) {
                    return Err(field_error(name, "an integer"));
                }
            }
            "temperature" => {
                if part.as_text()?.trim().parse::<f64>().is_err() {
                    return Err(field_error(name, "a number"));
                }
            }
            "stream" => stream = parse_stream(part)?,
            "response_format" => {
                let format = part.as_text()?.trim();
                if !TRANSCRIPTION_RESPONSE_FORMATS.contains(&format) {
                    return Err(RequestError::invalid(
                        "invalid_value",
                        Some(name.to_string()),
                        format!(
                            "response_format must be one of {}, not {format:?}",
                            TRANSCRIPTION_RESPONSE_FORMATS.join(", ")
                        ),
                    ));
                }
            }
            _ if ENVELOPE_FIELDS.contains(&name) => {}
            _ => {
                return Err(RequestError::invalid(
                    "unknown_parameter",
                    Some(name.to_string()),
                    format!("request has unknown field '{name}'"),
                ))
            }
        }
    }
    for required in ["model", "file"] {
        if form.get(required).is_none() {
            return Err(RequestError::invalid(
                "missing_required_parameter",
                Some(required.to_string()),
                format!("'request' must have a field '{required}'"),
            ));
        }
    }
    let model = form.get("model").map_or(Ok(""), FormPart::as_text)?;
    Ok(TranscriptionRequest {
        model: model.to_string(),
        stream,
    })
}

/// The worker's rewrite for a transcription (§4.8): `m` = `max_completion_tokens`, else
/// `max_tokens` (our order, as for JSON); when `m > 0`, `max_tokens` is set to it.
pub(crate) fn apply_form_max_tokens(form: &mut Form) -> Option<i64> {
    let read = |name: &str| -> Option<i64> { form.get(name)?.as_text().ok()?.trim().parse().ok() };
    let m = read("max_completion_tokens").or_else(|| read("max_tokens"))?;
    if m <= 0 {
        return None;
    }
    form.insert(FormPart::text("max_tokens", &m.to_string()));
    Some(m)
}
