//! The worker's opening of encrypted forms and its refusal of clear bodies it holds a key
//! for (delta-2026-04 §2.4, §2.6).

use cocoon_e2e::multipart::{encrypt_form, parse_form, write_form, Form, FormPart};
use cocoon_e2e::{Direction, Seed};

use super::{open_form_body, open_json_body};
use crate::validate::validate_worker_http;

const CONTENT_TYPE: &str = "multipart/form-data; boundary=xyzBOUNDARYxyz";
const TRANSCRIPTIONS: &str = "/v1/audio/transcriptions";

fn audio() -> Vec<u8> {
    // Bytes a text decoder would choke on: the file must come out as it went in.
    (0..=255u8).cycle().take(3000).collect()
}

fn transcription_form() -> Form {
    let mut form = Form::new();
    form.insert("model".into(), FormPart::field("model", "whisper-1"));
    form.insert("language".into(), FormPart::field("language", "en"));
    form.insert(
        "file".into(),
        FormPart {
            headers: vec![
                b"Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"".to_vec(),
                b"Content-Type: audio/wav".to_vec(),
            ],
            value: audio(),
        },
    );
    form
}

fn keys() -> (Seed, Seed) {
    (Seed::from_bytes([7; 32]), Seed::from_bytes([9; 32]))
}

/// The transcription form as a caller encrypts it: (caller, key manager, form).
fn encrypted_form() -> (Seed, Seed, Form) {
    let (caller, key_manager) = keys();
    let mut form = transcription_form();
    encrypt_form(
        &mut form,
        &caller,
        &key_manager.public_key(),
        Direction::CallerToWorker,
    )
    .expect("encrypt");
    (caller, key_manager, form)
}

#[test]
fn an_encrypted_form_is_opened_file_included_and_validates_as_clear() {
    let (caller, key_manager, form) = encrypted_form();
    assert!(
        form["file"].value.starts_with(b"ENC_"),
        "the audio travels encrypted"
    );
    assert!(form["language"].value.starts_with(b"ENC_"));
    assert_eq!(
        form["model"].value, b"whisper-1",
        "model stays clear for routing"
    );
    let body = write_form(CONTENT_TYPE, &form).expect("write");

    let (clear, sender) = open_form_body(CONTENT_TYPE, &body, Some(&key_manager)).expect("open");
    assert_eq!(
        sender,
        Some(caller.public_key()),
        "the answer goes to the caller"
    );
    let opened = parse_form(CONTENT_TYPE, &clear).expect("clear form");
    assert_eq!(opened["file"].value, audio());
    assert_eq!(opened["language"].value, b"en");
    for envelope in crate::validate::ENVELOPE_FIELDS {
        assert!(!opened.contains_key(envelope), "{envelope} dropped");
    }
    let validated =
        validate_worker_http(TRANSCRIPTIONS, Some(CONTENT_TYPE), &clear).expect("validates");
    assert_eq!(validated.model, "whisper-1");
}

#[test]
fn an_encrypted_form_without_the_key_or_to_another_key_is_refused() {
    let (_, _, form) = encrypted_form();
    let body = write_form(CONTENT_TYPE, &form).expect("write");
    let (code, text) = open_form_body(CONTENT_TYPE, &body, None).expect_err("no key");
    assert_eq!(code, 602);
    assert!(
        text.contains("cannot find private key for an encrypted request"),
        "{text}"
    );
    let other = Seed::from_bytes([1; 32]);
    let (_, text) = open_form_body(CONTENT_TYPE, &body, Some(&other)).expect_err("other key");
    assert!(text.contains("public key mismatch"), "{text}");
}

#[test]
fn a_clear_body_the_proxy_sent_a_key_for_is_refused_and_otherwise_passes_untouched() {
    let (_, key_manager) = keys();
    let form_body = write_form(CONTENT_TYPE, &transcription_form()).expect("write");
    let json_body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

    let (code, text) =
        open_form_body(CONTENT_TYPE, &form_body, Some(&key_manager)).expect_err("form");
    assert_eq!(code, 602);
    assert!(
        text.contains("encryption key is provided, but request is unencrypted"),
        "{text}"
    );
    let (code, text) = open_json_body(json_body, Some(&key_manager)).expect_err("json");
    assert_eq!(code, 602);
    assert!(
        text.contains("encryption key is provided, but request is unencrypted"),
        "{text}"
    );

    let (clear, sender) = open_form_body(CONTENT_TYPE, &form_body, None).expect("clear form");
    assert!(matches!(clear, std::borrow::Cow::Borrowed(_)) && sender.is_none());
    assert_eq!(&*clear, form_body.as_slice());
}
