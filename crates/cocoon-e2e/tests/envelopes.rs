//! Envelope shapes: which JSON members are encrypted, multipart forms end to end, and
//! answers streamed in arbitrary chunks.

mod support;

use cocoon_e2e::json::{decrypt_request_body, encrypt_json, encrypt_request_body};
use cocoon_e2e::multipart::{
    boundary, decrypt_form, encrypt_form, parse_form, write_form, Form, FormPart,
};
use cocoon_e2e::stream::{decrypt_answer_line, AnswerEncryptor};
use cocoon_e2e::{Direction, E2eError, Receiver};
use serde_json::{json, Value};
use support::{caller_seed, key, km_seed, KM_PUBLIC};

#[test]
fn every_string_but_the_plain_names_is_encrypted_at_any_depth() {
    let request = json!({
        "model": "m", "max_tokens": 7, "temperature": 0.5, "stream": true, "seed": null,
        "request_guid": "g", "timeout": "10",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stop": ["a", "b"],
        "response_format": {"type": "json_object", "model": "inner plain"},
        "debug": {"note": "whole subtree untouched"}
    });
    let Value::Object(mut object) = request.clone() else {
        unreachable!()
    };
    encrypt_json(
        &mut object,
        &caller_seed(),
        &key(KM_PUBLIC),
        Direction::CallerToWorker,
    )
    .unwrap();
    let enc = |v: &Value| v.as_str().is_some_and(|s| s.starts_with("ENC_"));
    assert!(enc(&object["messages"][0]["role"]));
    assert!(enc(&object["messages"][0]["content"][0]["type"]));
    assert!(enc(&object["messages"][0]["content"][0]["text"]));
    assert!(enc(&object["stop"][1]));
    assert!(enc(&object["response_format"]["type"]));
    for plain in [
        "model",
        "max_tokens",
        "temperature",
        "stream",
        "seed",
        "request_guid",
        "timeout",
        "debug",
    ] {
        assert_eq!(object[plain], request[plain], "{plain}");
    }
    assert_eq!(object["response_format"]["model"], "inner plain");
    assert_eq!(object["is_encrypted"], "v1");
    assert_eq!(object["encryption_nonce"].as_str().unwrap().len(), 44);

    let body = Value::Object(object).to_string();
    let km = km_seed();
    let (clear, caller) = decrypt_request_body(body.as_bytes(), Some(&km)).unwrap();
    assert_eq!(caller, Some(caller_seed().public_key()));
    for (name, value) in request.as_object().unwrap() {
        assert_eq!(&clear[name], value, "{name}");
    }
}

#[test]
fn two_encryptions_of_one_request_differ() {
    let body = br#"{"model":"m","prompt":"same"}"#;
    let a = encrypt_request_body(body, &caller_seed(), &key(KM_PUBLIC)).unwrap();
    let b = encrypt_request_body(body, &caller_seed(), &key(KM_PUBLIC)).unwrap();
    assert_ne!(a, b, "fresh nonce and padding each time");
}

#[test]
fn bodies_that_are_not_objects_are_refused() {
    for body in [&b"[1]"[..], b"\"s\"", b"{", b"", b"\xff"] {
        let err = decrypt_request_body(body, None).unwrap_err();
        assert_eq!(
            (err.to_string().as_str(), err.code()),
            ("expected json object", 621)
        );
    }
}

const CONTENT_TYPE: &str = "multipart/form-data; boundary=XyZ";

#[test]
fn a_form_with_a_binary_file_goes_through_encrypt_write_parse_decrypt() {
    let audio: Vec<u8> = (0..=255u8).chain([13, 10, b'-', b'-']).collect();
    let mut form = Form::new();
    form.insert("model".into(), FormPart::field("model", "whisper"));
    form.insert("language".into(), FormPart::field("language", "en"));
    form.insert(
        "file".into(),
        FormPart {
            headers: vec![
                b"Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"".to_vec(),
                b"Content-Type: audio/wav".to_vec(),
            ],
            value: audio.clone(),
        },
    );
    let original = form.clone();
    encrypt_form(
        &mut form,
        &caller_seed(),
        &key(KM_PUBLIC),
        Direction::CallerToWorker,
    )
    .unwrap();
    assert_eq!(form["model"].value, b"whisper");
    assert!(form["file"].value.starts_with(b"ENC_"));
    let body = write_form(CONTENT_TYPE, &form).unwrap();

    let mut parsed = parse_form(CONTENT_TYPE, &body).unwrap();
    assert_eq!(parsed, form);
    let km = km_seed();
    let sender = decrypt_form(&mut parsed, Receiver::Worker { key: Some(&km) }).unwrap();
    assert_eq!(sender, Some(caller_seed().public_key()));
    for (name, part) in &original {
        assert_eq!(&parsed[name], part, "{name}");
    }
    assert!(parsed.contains_key("is_encrypted"), "the envelope stays");
}

#[test]
fn forms_parse_as_the_reference_keeps_them() {
    let body = b"preamble\r\n--XyZ\r\ncontent-disposition:  form-data; NAME=a \r\n\r\none\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ntwo\r\n\
--XyZ\r\nContent-Type: text/plain\r\n\r\nnameless\r\n--XyZ--\r\n";
    let form = parse_form("multipart/form-data; boundary=\"XyZ\"", body).unwrap();
    assert_eq!(form.len(), 1, "the nameless part is dropped");
    assert_eq!(
        form["a"].value, b"two",
        "a later part of the same name wins"
    );
    let written = write_form(CONTENT_TYPE, &form).unwrap();
    assert_eq!(
        written,
        b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ntwo\r\n--XyZ--\r\n"
    );
}

#[test]
fn content_types_and_bodies_that_are_not_forms_are_refused() {
    let err = boundary("application/json").unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        (
            "expected multipart/form-data content type, found application/json",
            621
        )
    );
    let err = boundary("multipart/form-data; charset=x").unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        ("cannot find boundary in content type", 621)
    );
    for body in [
        &b""[..],
        b"--XyZ\r\nno colon\r\n\r\nx\r\n--XyZ--",
        b"--XyZ\r\nA: b\r\n\r\nunterminated",
    ] {
        let err = parse_form(CONTENT_TYPE, body).unwrap_err();
        assert_eq!(
            (err.to_string().as_str(), err.code()),
            ("cannot parse form multipart data", 621)
        );
    }
}

#[test]
fn answers_split_anywhere_come_out_one_encrypted_line_per_value() {
    let backend = b"{\"id\":\"a\",\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\n\
{\"id\":\"a\",\"choices\":[{\"delta\":{\"content\":\"llo\"}}]} {\"usage\":{\"total_tokens\":3}}\n";
    let caller = caller_seed();
    for chunk_size in [1, 3, 17, backend.len()] {
        let mut encryptor = AnswerEncryptor::new(km_seed(), caller.public_key());
        let mut out = String::new();
        for chunk in backend.chunks(chunk_size) {
            out.push_str(&encryptor.push(chunk).unwrap());
        }
        assert!(
            encryptor.pending().is_empty(),
            "nothing left between values"
        );
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3, "chunks of {chunk_size}");
        let opened: Vec<_> = lines
            .iter()
            .map(|line| decrypt_answer_line(line.as_bytes(), &caller, &key(KM_PUBLIC)).unwrap())
            .collect();
        assert_eq!(opened[0]["choices"][0]["delta"]["content"], "He");
        assert_eq!(opened[1]["choices"][0]["delta"]["content"], "llo");
        assert_eq!(opened[2]["usage"]["total_tokens"], 3);
        assert_ne!(opened[0]["encryption_nonce"], opened[1]["encryption_nonce"]);
    }
}

#[test]
fn answer_streams_that_are_not_json_objects_fail() {
    for bad in [&b"data: {}\n"[..], b"[1]\n", b"}"] {
        let mut encryptor = AnswerEncryptor::new(km_seed(), caller_seed().public_key());
        assert_eq!(
            encryptor.push(bad),
            Err(E2eError::BadAnswerStream),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn answer_values_with_brackets_and_escapes_inside_strings_split_correctly() {
    let backend = br#"{"a":"}{][\"\\","b":[{"c":"]"}]}{"d":"\\"}"#;
    let caller = caller_seed();
    let mut encryptor = AnswerEncryptor::new(km_seed(), caller.public_key());
    let mut out = String::new();
    for byte in backend.chunks(1) {
        out.push_str(&encryptor.push(byte).unwrap());
    }
    let opened: Vec<_> = out
        .lines()
        .map(|line| decrypt_answer_line(line.as_bytes(), &caller, &key(KM_PUBLIC)).unwrap())
        .collect();
    assert_eq!(opened.len(), 2);
    assert_eq!(opened[0]["a"], "}{][\"\\");
    assert_eq!(opened[0]["b"][0]["c"], "]");
    assert_eq!(opened[1]["d"], "\\");
    // A value in progress stays pending until its closing brace.
    assert!(encryptor.push(br#"{"e":"#).unwrap().is_empty());
    assert_eq!(encryptor.pending(), br#"{"e":"#);
}
