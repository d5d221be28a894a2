//! Preparing a `multipart/form-data` request (`/v1/audio/transcriptions`, delta §4.2): the
//! cocoon control fields (`max_coefficient`, `timeout`, `enable_debug`, `request_guid`) are
//! read and removed, `max_tokens` is injected when neither token limit is present, the form is
//! checked against the worker's schema ([`check_transcription_form`]: an unknown field is a
//! 400 here) and written out again with the caller's boundary, its `Content-Type` spelled as
//! the reference worker parses it (`multipart/form-data; boundary=…`, with the space).
//! An end-to-end encrypted form (`is_encrypted`) is left to the worker's schema check, and its
//! `receiver_public_key` goes to the proxy as `client.runQueryEx.public_key`.

use super::error::ApiError;
use super::request::{
    PreparedRequest, DEFAULT_MAX_COEFFICIENT, DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT_S,
};
use crate::validate::form::{check_transcription_form, Form, FormPart};

fn invalid_type(field: &str, what: &str) -> ApiError {
    ApiError::invalid("invalid_type", format!("'{field}' must be {what}")).with_param(field)
}

/// The field's text, trimmed, if the field is there.
fn text_of(part: Option<&FormPart>) -> Result<Option<String>, ApiError> {
    part.map(|p| p.as_text().map(|t| t.trim().to_string()))
        .transpose()
        .map_err(ApiError::from)
}

/// An unsigned 32-bit decimal (the reference's parse of these fields, §4.2).
fn unsigned(form: &Form, field: &str) -> Result<Option<u64>, ApiError> {
    text_of(form.get(field))?
        .map(|t| {
            t.parse::<u32>()
                .map(u64::from)
                .map_err(|_| invalid_type(field, "an unsigned integer"))
        })
        .transpose()
}

/// Reads and strips the control fields of a form; errors are OpenAI-shaped 400s (413 for an
/// oversized body).
pub fn prepare_form(
    path: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> Result<PreparedRequest, ApiError> {
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let mut form = Form::parse(content_type, body)?;

    let max_coefficient = unsigned(&form, "max_coefficient")?.unwrap_or(DEFAULT_MAX_COEFFICIENT);
    form.remove("max_coefficient");
    let timeout = match text_of(form.remove("timeout").as_ref())? {
        None => DEFAULT_TIMEOUT_S,
        Some(t) => match t.parse::<f64>() {
            Ok(t) if t.is_finite() && t > 0.0 => t.min(24.0 * 3600.0),
            _ => return Err(invalid_type("timeout", "a positive number of seconds")),
        },
    };
    let enable_debug = match text_of(form.remove("enable_debug").as_ref())?.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => {
            return Err(invalid_type(
                "enable_debug",
                "a boolean (0, 1, true or false)",
            ))
        }
    };
    let request_guid = text_of(form.remove("request_guid").as_ref())?;
    let max_tokens = match (
        unsigned(&form, "max_completion_tokens")?,
        unsigned(&form, "max_tokens")?,
    ) {
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => {
            form.insert(FormPart::text(
                "max_tokens",
                &DEFAULT_MAX_TOKENS.to_string(),
            ));
            DEFAULT_MAX_TOKENS
        }
    };
    let encrypted_with = text_of(form.get("receiver_public_key"))?
        .map(|key| {
            cocoon_e2e::PublicKey::parse_field(key.as_bytes())
                .map(|k| k.0)
                .map_err(|e| {
                    ApiError::invalid("invalid_value", format!("receiver_public_key: {e}"))
                })
        })
        .transpose()?;
    let (model, stream) = if form.get("is_encrypted").is_some() {
        // End-to-end encrypted (delta §2.4): every value but `model` and the token limits is
        // ciphertext here, so the worker checks the schema after opening it; `stream` cannot
        // be read, so the answer is relayed as it arrives, whichever it is.
        (text_of(form.get("model"))?.unwrap_or_default(), true)
    } else {
        // The worker's schema, unknown fields included: refused here, not after a network trip.
        let checked = check_transcription_form(&form)?;
        (checked.model, checked.stream)
    };
    if model.is_empty() {
        return Err(invalid_type("model", "a non-empty string"));
    }
    // The caller's boundary, spelled as the reference worker's parser needs it (§4.9).
    let mut headers = headers;
    for (name, value) in headers.iter_mut() {
        if name.eq_ignore_ascii_case("content-type") {
            *value = form.content_type();
        }
    }
    Ok(PreparedRequest {
        path: path.to_string(),
        model,
        body: form.to_bytes(),
        stream,
        max_coefficient: super::request::clamp_i32(max_coefficient),
        max_tokens: super::request::clamp_i32(max_tokens),
        timeout,
        enable_debug,
        request_guid,
        headers,
        encrypted_with,
    })
}

#[cfg(test)]
#[path = "request_form_tests.rs"]
mod tests;
