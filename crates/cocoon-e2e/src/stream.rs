//! Answers: the worker encrypts every complete JSON value of the backend's stream (a
//! fresh nonce for each) and writes it compactly with a trailing `\n`; the caller
//! decrypts line by line. Chunks may split a value anywhere.

use serde_json::{Map, Value};

use crate::envelope::Receiver;
use crate::error::E2eError;
use crate::json::{decrypt_json, encrypt_json};
use crate::keys::{Direction, PublicKey, Seed};

/// Worker side: turns backend output chunks into encrypted answer lines.
pub struct AnswerEncryptor {
    worker: Seed,
    caller: PublicKey,
    pending: Vec<u8>,
}

impl AnswerEncryptor {
    /// Encrypts with the key manager seed of the request to the caller's public key.
    pub fn new(worker: Seed, caller: PublicKey) -> Self {
        AnswerEncryptor {
            worker,
            caller,
            pending: Vec::new(),
        }
    }

    /// Feeds one chunk; returns the encrypted lines of every value it completed. A value
    /// that is not a JSON object, or bytes that are not JSON, fail the stream.
    pub fn push(&mut self, chunk: &[u8]) -> Result<String, E2eError> {
        self.pending.extend_from_slice(chunk);
        let mut out = String::new();
        let mut consumed = 0;
        let mut values = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Value>();
        loop {
            match values.next() {
                None => {
                    consumed = self.pending.len();
                    break;
                }
                Some(Ok(Value::Object(mut object))) => {
                    consumed = values.byte_offset();
                    encrypt_json(
                        &mut object,
                        &self.worker,
                        &self.caller,
                        Direction::WorkerToCaller,
                    )?;
                    out.push_str(&Value::Object(object).to_string());
                    out.push('\n');
                }
                Some(Ok(_)) => return Err(E2eError::BadAnswerStream),
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => return Err(E2eError::BadAnswerStream),
            }
        }
        self.pending.drain(..consumed);
        Ok(out)
    }

    /// Bytes of a value not yet complete (whitespace only at a clean end).
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

/// Caller side: decrypts one answer line (a JSON object) that must come from `km`.
pub fn decrypt_answer_line(
    line: &[u8],
    caller: &Seed,
    km: &PublicKey,
) -> Result<Map<String, Value>, E2eError> {
    let mut object = match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(object)) => object,
        _ => return Err(E2eError::BadAnswerStream),
    };
    decrypt_json(
        &mut object,
        Receiver::Caller {
            seed: Some(caller),
            expected_sender: Some(*km),
        },
    )?;
    Ok(object)
}
