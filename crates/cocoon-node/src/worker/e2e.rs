//! End-to-end encrypted requests at the worker (delta-2026-04 §2.5 steps 4–5, with
//! `cocoon-e2e`). The proxy hands the key manager seed matching the caller's chosen key in
//! `proxy.runQueryEx.private_key` (flags bit 1; all zero = none). The worker decrypts the
//! JSON body (every encrypted string value, the caller's `sender_public_key` remembered),
//! drops the four envelope members and validates the clear request like any other; the
//! engine sees plaintext. The answer is metered on the plaintext, then every JSON value is
//! encrypted to the caller's key with a fresh nonce:
//! * a JSON-value stream (what the reference's engines emit): one encrypted object per line,
//!   as the reference does;
//! * an SSE stream: each `data: {…}` payload is encrypted in place and the SSE framing kept
//!   (`data: [DONE]` and comments stay clear) — the April reference drops SSE answers to
//!   encrypted requests entirely (an empty body, its §8 defect), so this is our extension.
//!
//! A multipart/form-data body (audio transcriptions) is opened field by field, the audio
//! `file` part included ([`open_form_body`]); a clear body the proxy sent a key for is
//! refused (`encryption key is provided, but request is unencrypted`), as the reference.
//!
//! Errors are not encrypted (as in the reference): decrypt failures answer with the
//! reference's texts and codes.

use std::borrow::Cow;

use cocoon_e2e::json::{decrypt_request_body, encrypt_json};
use cocoon_e2e::multipart::{decrypt_form, parse_form, write_form};
use cocoon_e2e::stream::AnswerEncryptor;
use cocoon_e2e::{Direction, E2eError, PublicKey, Receiver, Seed};
use cocoon_wire::schema::functions;
use serde_json::Value;

use crate::validate::{ENVELOPE_FIELDS, WORKER_ERROR_PREFIX};

/// Largest unfinished answer value kept while it streams (the frame limit of the wire).
pub const MAX_PENDING_ANSWER: usize = 16 * 1024 * 1024;

/// The seed the proxy sent with `q`, if the request may be encrypted.
pub(crate) fn private_key(q: &functions::proxy::RunQueryEx) -> Option<Seed> {
    if q.flags & 2 == 0 {
        return None;
    }
    q.private_key.and_then(Seed::from_wire)
}

fn refused(e: E2eError) -> (i32, String) {
    (e.code(), format!("{WORKER_ERROR_PREFIX}{e}"))
}

/// The clear body and, when it was encrypted, the caller's key ([`open_json_body`]).
pub(crate) type OpenedBody<'a> = (Cow<'a, [u8]>, Option<PublicKey>);

/// A JSON request body opened: the clear body (envelope removed) and, when it was
/// encrypted, the caller's key for the answer. A clear body passes unchanged, borrowed: a
/// body holding neither the bytes `"is_encrypted"` nor a `\u` escape is neither parsed nor
/// copied here (the validator parses it once).
pub(crate) fn open_json_body<'a>(
    body: &'a [u8],
    key: Option<&Seed>,
) -> Result<OpenedBody<'a>, (i32, String)> {
    // A key may be spelled with `\u` escapes: then only a parse can tell.
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    let mentions = has(ENCRYPTED_MARK) || has(b"\\u");
    let encrypted = mentions
        && serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(|v| v.as_object())
            .is_some_and(|o| o.contains_key("is_encrypted"));
    if !encrypted {
        return clear_body(body, key);
    }
    let (mut object, caller) = decrypt_request_body(body, key).map_err(refused)?;
    for field in ENVELOPE_FIELDS {
        object.remove(field);
    }
    Ok((
        Cow::Owned(Value::Object(object).to_string().into_bytes()),
        caller,
    ))
}

/// The envelope member every encrypted body carries, as it appears in the JSON text.
const ENCRYPTED_MARK: &[u8] = b"\"is_encrypted\"";

/// A body without the envelope: fine unless the proxy sent a key for it (§2.6: the
/// reference refuses a clear body the caller announced as encrypted).
fn clear_body<'a>(body: &'a [u8], key: Option<&Seed>) -> Result<OpenedBody<'a>, (i32, String)> {
    match key {
        Some(_) => Err(refused(E2eError::KeyForUnencrypted)),
        None => Ok((Cow::Borrowed(body), None)),
    }
}

/// A multipart/form-data request body opened (`/v1/audio/transcriptions`, delta §2.4): every
/// field but the never-encrypted ones, the `file` part included, is decrypted, the envelope
/// fields are dropped and the form is written again with its boundary. A form without the
/// `is_encrypted` field name anywhere in its bytes passes unchanged, borrowed.
pub(crate) fn open_form_body<'a>(
    content_type: &str,
    body: &'a [u8],
    key: Option<&Seed>,
) -> Result<OpenedBody<'a>, (i32, String)> {
    let mark = b"is_encrypted";
    if !body.windows(mark.len()).any(|w| w == mark) {
        return clear_body(body, key);
    }
    let mut form = parse_form(content_type, body).map_err(refused)?;
    let Some(caller) = decrypt_form(&mut form, Receiver::Worker { key }).map_err(refused)? else {
        return clear_body(body, key);
    };
    for field in ENVELOPE_FIELDS {
        form.remove(field);
    }
    let clear = write_form(content_type, &form).map_err(refused)?;
    Ok((Cow::Owned(clear), Some(caller)))
}

/// Encrypts an answer as it streams (see the module doc).
pub(crate) enum AnswerSealer {
    /// Concatenated JSON values, one encrypted object per line out.
    Values(AnswerEncryptor),
    /// Server-sent events: `data:` JSON payloads encrypted in place.
    Events(SseSealer),
}

impl AnswerSealer {
    /// The sealer for an answer of `content_type` to `caller`, with the request's seed.
    pub(crate) fn new(content_type: &str, worker: Seed, caller: PublicKey) -> Self {
        if content_type
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
        {
            AnswerSealer::Events(SseSealer {
                worker,
                caller,
                pending: Vec::new(),
            })
        } else {
            AnswerSealer::Values(AnswerEncryptor::new(worker, caller))
        }
    }

    /// Seals one metered chunk; what is not complete yet waits for the next one.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, (i32, String)> {
        let fail = |e: E2eError| (e.code(), format!("worker: cannot encrypt the answer: {e}"));
        let (out, pending) = match self {
            AnswerSealer::Values(enc) => {
                let out = enc.push(chunk).map_err(fail)?.into_bytes();
                (out, enc.pending().len())
            }
            AnswerSealer::Events(sse) => {
                let out = sse.push(chunk).map_err(fail)?;
                (out, sse.pending.len())
            }
        };
        if pending > MAX_PENDING_ANSWER {
            return Err((
                crate::worker::request::CODE_ERROR,
                "worker: cannot encrypt the answer: a value over 16 MiB".into(),
            ));
        }
        Ok(out)
    }

    /// The end of the answer: an unfinished value is an error (nothing leaks in clear).
    pub(crate) fn finish(&mut self) -> Result<Vec<u8>, (i32, String)> {
        match self {
            AnswerSealer::Values(enc) if !enc.pending().iter().all(u8::is_ascii_whitespace) => {
                Err((
                    crate::worker::request::CODE_ERROR,
                    "worker: cannot encrypt the answer: it ends inside a JSON value".into(),
                ))
            }
            AnswerSealer::Values(_) => Ok(Vec::new()),
            AnswerSealer::Events(sse) => {
                let rest = std::mem::take(&mut sse.pending);
                if rest.iter().all(u8::is_ascii_whitespace) {
                    Ok(Vec::new())
                } else {
                    let mut line = rest;
                    line.push(b'\n');
                    sse.push(&line)
                        .map_err(|e| (e.code(), format!("worker: cannot encrypt the answer: {e}")))
                }
            }
        }
    }
}

/// Line-based SSE sealer.
pub(crate) struct SseSealer {
    worker: Seed,
    caller: PublicKey,
    pending: Vec<u8>,
}

impl SseSealer {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, E2eError> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let line = &self.pending[start..start + nl];
            out.extend_from_slice(&self.seal_line(line)?);
            out.push(b'\n');
            start += nl + 1;
        }
        self.pending.drain(..start);
        Ok(out)
    }

    fn seal_line(&self, line: &[u8]) -> Result<Vec<u8>, E2eError> {
        let body = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(payload) = body.strip_prefix(b"data:") else {
            return Ok(line.to_vec());
        };
        let payload = payload.strip_prefix(b" ").unwrap_or(payload);
        if payload.first() != Some(&b'{') {
            // `[DONE]` and other non-object payloads carry no content.
            return Ok(line.to_vec());
        }
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(payload) else {
            return Err(E2eError::BadAnswerStream);
        };
        encrypt_json(
            &mut object,
            &self.worker,
            &self.caller,
            Direction::WorkerToCaller,
        )?;
        let mut sealed = b"data: ".to_vec();
        sealed.extend_from_slice(Value::Object(object).to_string().as_bytes());
        Ok(sealed)
    }
}

#[cfg(test)]
#[path = "e2e_form_tests.rs"]
mod form_tests;

#[cfg(test)]
#[path = "e2e_tests.rs"]
mod tests;
