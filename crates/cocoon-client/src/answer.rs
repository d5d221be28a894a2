//! Reading an answer body: splitting it into JSON objects and opening encrypted ones.
//!
//! Two framings reach a caller: OpenAI server-sent events (`data: {…}` lines, a
//! `data: [DONE]` end; our worker keeps that framing for encrypted answers and encrypts each
//! payload in place) and newline-delimited JSON (one value per line: the April reference's
//! encrypted answers). Both are read line by line, so chunks may split a line anywhere.
//! With the request's keys every object must be encrypted by the key manager key it was
//! sent to (a clear or foreign line is an error, never passed through); the envelope
//! members are removed after opening. A line longer than [`MAX_LINE`] is an error, so a
//! peer cannot make the decoder buffer without bound.

use cocoon_e2e::envelope::ENVELOPE_FIELDS;
use cocoon_e2e::Receiver;
use serde_json::{Map, Value};

use crate::encryption::RequestKeys;
use crate::error::{Error, Result};

/// Longest answer line (one JSON value) accepted.
pub const MAX_LINE: usize = 16 << 20;

/// Turns answer bytes into JSON objects, line by line.
pub struct AnswerDecoder {
    keys: Option<RequestKeys>,
    pending: Vec<u8>,
}

impl AnswerDecoder {
    /// A decoder for a clear answer (`None`) or one encrypted to the caller of `keys`.
    pub fn new(keys: Option<RequestKeys>) -> Self {
        AnswerDecoder {
            keys,
            pending: Vec::new(),
        }
    }

    /// Whether answers are opened with a request's keys (the request was encrypted).
    pub fn is_keyed(&self) -> bool {
        self.keys.is_some()
    }

    /// Feeds a part of the body; returns the objects of the lines it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Map<String, Value>>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(at);
            rest = &tail[1..];
            self.bound(head.len())?;
            let line = if self.pending.is_empty() {
                self.open_line(head)?
            } else {
                let mut joined = std::mem::take(&mut self.pending);
                joined.extend_from_slice(head);
                self.open_line(&joined)?
            };
            out.extend(line);
        }
        self.bound(rest.len())?;
        self.pending.extend_from_slice(rest);
        Ok(out)
    }

    /// The end of the body: the objects of a last line without a newline.
    pub fn finish(&mut self) -> Result<Vec<Map<String, Value>>> {
        let last = std::mem::take(&mut self.pending);
        Ok(self.open_line(&last)?.into_iter().collect())
    }

    fn bound(&self, more: usize) -> Result<()> {
        if self.pending.len().saturating_add(more) > MAX_LINE {
            return Err(Error::Decode(format!(
                "an answer line is longer than {MAX_LINE} bytes"
            )));
        }
        Ok(())
    }

    /// One line: `None` for blank lines, SSE comments and fields other than `data`, and
    /// the `[DONE]` marker; else the object it carries, opened.
    fn open_line(&self, line: &[u8]) -> Result<Option<Map<String, Value>>> {
        let line = line.trim_ascii();
        let payload = match line.strip_prefix(b"data:") {
            Some(data) => data.trim_ascii(),
            None if line.is_empty() || line.starts_with(b":") => return Ok(None),
            None if is_other_sse_field(line) => return Ok(None),
            None => line,
        };
        if payload.is_empty() || payload == b"[DONE]" {
            return Ok(None);
        }
        let object = match serde_json::from_slice::<Value>(payload) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(Error::Decode("an answer value is not a JSON object".into())),
            Err(e) => return Err(Error::Decode(format!("an answer line is not JSON: {e}"))),
        };
        self.open(object).map(Some)
    }

    /// Opens one object: decrypted (and its envelope removed) with keys, as is without.
    pub fn open(&self, mut object: Map<String, Value>) -> Result<Map<String, Value>> {
        if let Some(keys) = &self.keys {
            cocoon_e2e::json::decrypt_json(
                &mut object,
                Receiver::Caller {
                    seed: Some(&keys.caller),
                    expected_sender: Some(keys.key_manager),
                },
            )?;
            for name in ENVELOPE_FIELDS {
                object.remove(name);
            }
        }
        Ok(object)
    }
}

/// SSE fields other than `data` (`event:`, `id:`, `retry:`), which carry no answer value.
fn is_other_sse_field(line: &[u8]) -> bool {
    [&b"event:"[..], b"id:", b"retry:"]
        .iter()
        .any(|p| line.starts_with(p))
}

/// A whole (non-streamed) body: one JSON object, or one line-framed object.
pub fn decode_whole(body: &[u8], keys: Option<RequestKeys>) -> Result<Map<String, Value>> {
    let decoder = AnswerDecoder::new(keys);
    if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) {
        return decoder.open(object);
    }
    let mut decoder = decoder;
    let mut objects = decoder.push(body)?;
    objects.extend(decoder.finish()?);
    match objects.len() {
        1 => Ok(objects.remove(0)),
        n => Err(Error::Decode(format!(
            "expected one JSON object in the answer, found {n}"
        ))),
    }
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
