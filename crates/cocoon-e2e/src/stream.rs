//! Answers: the worker encrypts every complete JSON value of the backend's stream (a
//! fresh nonce for each) and writes it compactly with a trailing `\n`; the caller
//! decrypts line by line. Chunks may split a value anywhere.

use serde_json::{Map, Value};

use crate::envelope::Receiver;
use crate::error::E2eError;
use crate::json::{decrypt_json, encrypt_json};
use crate::keys::{Direction, PublicKey, Seed};

/// Worker side: turns backend output chunks into encrypted answer lines.
///
/// Value boundaries are found by a bracket scanner that keeps its state across chunks,
/// so each byte is scanned once and each value parsed once, however it is chunked.
pub struct AnswerEncryptor {
    worker: Seed,
    caller: PublicKey,
    pending: Vec<u8>,
    scan: Scan,
}

/// Where the scanner is inside `pending`.
#[derive(Default)]
struct Scan {
    /// Bytes of `pending` already scanned.
    scanned: usize,
    /// Open `{`/`[` of the current value; 0 = between values.
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl AnswerEncryptor {
    /// Encrypts with the key manager seed of the request to the caller's public key.
    pub fn new(worker: Seed, caller: PublicKey) -> Self {
        AnswerEncryptor {
            worker,
            caller,
            pending: Vec::new(),
            scan: Scan::default(),
        }
    }

    /// Feeds one chunk; returns the encrypted lines of every value it completed. A value
    /// that is not a JSON object, or bytes that are not JSON, fail the stream.
    pub fn push(&mut self, chunk: &[u8]) -> Result<String, E2eError> {
        self.pending.extend_from_slice(chunk);
        let mut out = String::new();
        let mut value_start = 0;
        while self.scan.scanned < self.pending.len() {
            let at = self.scan.scanned;
            let byte = self.pending[at];
            self.scan.scanned += 1;
            let scan = &mut self.scan;
            if scan.depth == 0 {
                match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => value_start = at + 1,
                    b'{' => {
                        value_start = at;
                        scan.depth = 1;
                    }
                    _ => return Err(E2eError::BadAnswerStream),
                }
                continue;
            }
            if scan.in_string {
                match (scan.escaped, byte) {
                    (true, _) => scan.escaped = false,
                    (false, b'\\') => scan.escaped = true,
                    (false, b'"') => scan.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => scan.in_string = true,
                b'{' | b'[' => scan.depth += 1,
                b'}' | b']' => {
                    scan.depth -= 1;
                    if scan.depth == 0 {
                        let value = &self.pending[value_start..=at];
                        let Ok(Value::Object(mut object)) = serde_json::from_slice(value) else {
                            return Err(E2eError::BadAnswerStream);
                        };
                        encrypt_json(
                            &mut object,
                            &self.worker,
                            &self.caller,
                            Direction::WorkerToCaller,
                        )?;
                        out.push_str(&Value::Object(object).to_string());
                        out.push('\n');
                        value_start = at + 1;
                    }
                }
                _ => {}
            }
        }
        // Keep only the value in progress (between values, nothing).
        let keep_from = if self.scan.depth == 0 {
            self.pending.len()
        } else {
            value_start
        };
        self.pending.drain(..keep_from);
        self.scan.scanned -= keep_from;
        Ok(out)
    }

    /// Bytes of a value not yet complete (empty at a clean end).
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
