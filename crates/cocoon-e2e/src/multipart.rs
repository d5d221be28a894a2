//! The multipart/form-data envelope (audio transcription): the four envelope names are
//! form fields, every other field except the plain names must hold `ENC_…`/`DEC_…`,
//! the `file` part included. Fields are flat.
//!
//! A form is kept as the reference keeps it: a map from field name to the part's header
//! lines (re-written as `Name: value`) and its bytes, ordered by name; a later part of the
//! same name replaces an earlier one and parts without a name are dropped.

use std::collections::BTreeMap;

use crate::cipher::{decrypt_string, encrypt_string};
use crate::envelope::{
    is_encrypted_field, open, FoundEnvelope, Receiver, ENCRYPTION_NONCE, ENVELOPE_VERSION,
    IS_ENCRYPTED, RECEIVER_PUBLIC_KEY, SENDER_PUBLIC_KEY,
};
use crate::error::E2eError;
use crate::keys::{fresh_nonce, message_secret, Direction, PublicKey, Seed};

const MULTIPART: &str = "multipart/form-data";

/// One form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    /// Header lines of the part, `Name: value`, without line ends.
    pub headers: Vec<Vec<u8>>,
    /// The part's bytes.
    pub value: Vec<u8>,
}

impl FormPart {
    /// A plain field: `Content-Disposition: form-data; name="<name>"`.
    pub fn field(name: &str, value: impl Into<Vec<u8>>) -> Self {
        FormPart {
            headers: vec![format!("Content-Disposition: form-data; name=\"{name}\"").into_bytes()],
            value: value.into(),
        }
    }
}

/// A parsed form, by field name.
pub type Form = BTreeMap<String, FormPart>;

/// The boundary of a `multipart/form-data` content type (the last `boundary=` among its
/// space-separated words; surrounding quotes removed).
pub fn boundary(content_type: &str) -> Result<&str, E2eError> {
    let Some(rest) = content_type.strip_prefix(MULTIPART) else {
        return Err(E2eError::NotMultipart(content_type.to_owned()));
    };
    let found = rest
        .split(' ')
        .rev()
        .find_map(|word| word.strip_prefix("boundary="))
        .unwrap_or("");
    let found = match found.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"').unwrap_or(inner),
        None => found,
    };
    if found.is_empty() {
        return Err(E2eError::NoBoundary);
    }
    Ok(found)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The `name` parameter of a Content-Disposition value.
fn disposition_name(value: &[u8]) -> Option<String> {
    let mut name = None;
    for param in value.split(|&b| b == b';') {
        let (key, val) = match param.iter().position(|&b| b == b'=') {
            Some(at) => (&param[..at], &param[at + 1..]),
            None => (param, &[][..]),
        };
        if trim(key).eq_ignore_ascii_case(b"name") {
            let val = trim(val);
            let val = if val.len() >= 2 && val[0] == b'"' && val[val.len() - 1] == b'"' {
                &val[1..val.len() - 1]
            } else {
                val
            };
            if !val.is_empty() {
                name = Some(String::from_utf8_lossy(val).into_owned());
            }
        }
    }
    name
}

/// Parses a form body; anything not shaped as `--boundary` parts is `cannot parse form
/// multipart data`.
pub fn parse_form(content_type: &str, body: &[u8]) -> Result<Form, E2eError> {
    let delimiter = format!("--{}", boundary(content_type)?).into_bytes();
    let mut next_delimiter = delimiter.clone();
    next_delimiter.splice(0..0, *b"\r\n");
    // The first delimiter may open the body or follow a preamble line.
    let mut at = if body.starts_with(&delimiter) {
        delimiter.len()
    } else {
        find(body, &next_delimiter).ok_or(E2eError::BadMultipart)? + next_delimiter.len()
    };
    let mut form = Form::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        let line_end = find(rest, b"\r\n").ok_or(E2eError::BadMultipart)?;
        if !trim(&rest[..line_end]).is_empty() {
            return Err(E2eError::BadMultipart);
        }
        at += line_end + 2;
        let mut headers = Vec::new();
        let mut name = None;
        loop {
            let rest = &body[at..];
            let line_end = find(rest, b"\r\n").ok_or(E2eError::BadMultipart)?;
            let line = &rest[..line_end];
            at += line_end + 2;
            if line.is_empty() {
                break;
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(E2eError::BadMultipart)?;
            let (header, value) = (&line[..colon], trim(&line[colon + 1..]));
            let mut stored = header.to_vec();
            stored.extend_from_slice(b": ");
            stored.extend_from_slice(value);
            headers.push(stored);
            if header.eq_ignore_ascii_case(b"Content-Disposition") {
                if let Some(found) = disposition_name(value) {
                    name = Some(found);
                }
            }
        }
        let value_len = find(&body[at..], &next_delimiter).ok_or(E2eError::BadMultipart)?;
        let value = body[at..at + value_len].to_vec();
        at += value_len + next_delimiter.len();
        if let Some(name) = name {
            form.insert(name, FormPart { headers, value });
        }
    }
}

/// Writes a form back with the boundary of `content_type`.
pub fn write_form(content_type: &str, form: &Form) -> Result<Vec<u8>, E2eError> {
    let boundary = boundary(content_type)?.as_bytes();
    let mut out = Vec::new();
    for part in form.values() {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary);
        out.extend_from_slice(b"\r\n");
        for header in &part.headers {
            out.extend_from_slice(header);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&part.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary);
    out.extend_from_slice(b"--\r\n");
    Ok(out)
}

/// Caller side: adds the envelope fields and encrypts every eligible field (the file
/// bytes included) from `own` to `peer`.
pub fn encrypt_form(
    form: &mut Form,
    own: &Seed,
    peer: &PublicKey,
    direction: Direction,
) -> Result<(), E2eError> {
    let own_public = own.public_key();
    let nonce = fresh_nonce();
    let secret = message_secret(own, peer, &own_public, nonce.as_bytes(), direction)?;
    for (name, part) in form.iter_mut() {
        if is_encrypted_field(name) {
            part.value = encrypt_string(&part.value, &secret).into_bytes();
        }
    }
    form.insert(
        IS_ENCRYPTED.into(),
        FormPart::field(IS_ENCRYPTED, ENVELOPE_VERSION),
    );
    form.insert(
        SENDER_PUBLIC_KEY.into(),
        FormPart::field(SENDER_PUBLIC_KEY, own_public.to_hex()),
    );
    form.insert(
        RECEIVER_PUBLIC_KEY.into(),
        FormPart::field(RECEIVER_PUBLIC_KEY, peer.to_hex()),
    );
    form.insert(
        ENCRYPTION_NONCE.into(),
        FormPart::field(ENCRYPTION_NONCE, nonce),
    );
    Ok(())
}

/// Decrypts every eligible field of `form` in place as `receiver`; returns the sender's
/// key, or `None` for an acceptable clear form. The envelope fields stay.
pub fn decrypt_form(
    form: &mut Form,
    receiver: Receiver<'_>,
) -> Result<Option<PublicKey>, E2eError> {
    let field = |name: &str| form.get(name).map(|part| part.value.as_slice());
    let found = FoundEnvelope {
        present: form.contains_key(IS_ENCRYPTED),
        marker_ok: true,
        sender: field(SENDER_PUBLIC_KEY),
        receiver: field(RECEIVER_PUBLIC_KEY),
        nonce: field(ENCRYPTION_NONCE),
    };
    let Some(opened) = open(&found, receiver)? else {
        return Ok(None);
    };
    for (name, part) in form.iter_mut() {
        if is_encrypted_field(name) {
            part.value = decrypt_string(&part.value, &opened.secret)?;
        }
    }
    Ok(Some(opened.sender))
}
