//! Every decrypt-side error of `delta-2026-04.md` §2.6 (and the cipher's), with the
//! reference's text and code, for JSON bodies and multipart forms.

mod support;

use cocoon_e2e::json::{decrypt_json, encrypt_json, parse_object};
use cocoon_e2e::multipart::{decrypt_form, encrypt_form, Form, FormPart};
use cocoon_e2e::{Direction, E2eError, PublicKey, Receiver};
use serde_json::{json, Map, Value};
use support::{caller_seed, key, km_seed, KM_PUBLIC};

fn encrypted_request() -> Map<String, Value> {
    let mut object =
        parse_object(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
    encrypt_json(
        &mut object,
        &caller_seed(),
        &key(KM_PUBLIC),
        Direction::CallerToWorker,
    )
    .unwrap();
    object
}

fn worker_error(mut object: Map<String, Value>) -> (String, i32) {
    let km = km_seed();
    let err = decrypt_json(&mut object, Receiver::Worker { key: Some(&km) }).unwrap_err();
    (err.to_string(), err.code())
}

fn pair(text: &str, code: i32) -> (String, i32) {
    (text.to_owned(), code)
}

#[test]
fn worker_with_a_key_refuses_a_clear_request() {
    let object = parse_object(br#"{"model":"m"}"#).unwrap();
    assert_eq!(
        worker_error(object),
        pair(
            "encryption key is provided, but request is unencrypted",
            602
        )
    );
}

#[test]
fn worker_without_a_key_passes_a_clear_request() {
    let mut object = parse_object(br#"{"model":"m","prompt":"x"}"#).unwrap();
    let before = object.clone();
    assert_eq!(
        decrypt_json(&mut object, Receiver::Worker { key: None }),
        Ok(None)
    );
    assert_eq!(object, before);
}

#[test]
fn missing_or_non_string_envelope_fields_are_refused() {
    for name in [
        "is_encrypted",
        "sender_public_key",
        "receiver_public_key",
        "encryption_nonce",
    ] {
        if name != "is_encrypted" {
            let mut object = encrypted_request();
            object.remove(name);
            assert_eq!(
                worker_error(object),
                pair("not all encryption-related fields are present", 602),
                "{name}"
            );
        }
        let mut object = encrypted_request();
        object.insert(name.into(), json!(1));
        assert_eq!(
            worker_error(object),
            pair("not all encryption-related fields are present", 602),
            "{name}"
        );
    }
}

#[test]
fn key_fields_of_bad_length_or_spelling_are_refused() {
    for (value, expected) in [
        ("abc", pair("public_key bad length", 621)),
        (&"zz".repeat(32) as &str, pair("Wrong hex string", 0)),
        (&"*".repeat(44), pair("Wrong character in the string", 0)),
        // 44 base64 characters without padding decode to 33 bytes.
        (&"A".repeat(44), pair("public_key bad length", 621)),
    ] {
        let mut object = encrypted_request();
        object.insert("sender_public_key".into(), json!(value));
        assert_eq!(worker_error(object), expected, "{value}");
    }
}

#[test]
fn key_fields_accept_raw_hex_and_base64_spellings() {
    use base64::Engine as _;
    let km = km_seed().public_key();
    let spellings = [
        km.to_hex(),
        km.to_hex().to_uppercase(),
        base64::engine::general_purpose::STANDARD.encode(km.0),
    ];
    for spelling in spellings {
        let mut object = encrypted_request();
        object.insert("receiver_public_key".into(), json!(spelling));
        let seed = km_seed();
        assert!(
            decrypt_json(&mut object, Receiver::Worker { key: Some(&seed) }).is_ok(),
            "{spelling}"
        );
    }
    // 32 characters are the raw key bytes.
    assert_eq!(
        PublicKey::parse_field(&[b'a'; 32]).unwrap(),
        PublicKey([b'a'; 32])
    );
}

#[test]
fn worker_without_a_key_refuses_an_encrypted_request() {
    let mut object = encrypted_request();
    let err = decrypt_json(&mut object, Receiver::Worker { key: None }).unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair("cannot find private key for an encrypted request", 602)
    );
}

#[test]
fn a_request_for_another_key_is_refused() {
    let mut object = encrypted_request();
    let other = caller_seed();
    let err = decrypt_json(&mut object, Receiver::Worker { key: Some(&other) }).unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair("public key mismatch", 602)
    );
}

#[test]
fn unprefixed_values_are_a_bad_method_quoting_the_value_after_four_characters() {
    let mut object = encrypted_request();
    object.insert("prompt".into(), json!("plaintext here"));
    assert_eq!(
        worker_error(object),
        pair("bad encryption method: ntext here", 621)
    );
    let mut object = encrypted_request();
    object.insert("stop".into(), json!(["ab"]));
    assert_eq!(worker_error(object), pair("bad encryption method: ", 621));
}

#[test]
fn dec_values_are_taken_as_plaintext_and_plain_fields_are_untouched() {
    let mut object = encrypted_request();
    object.insert("user".into(), json!("DEC_alice"));
    object.insert("max_tokens".into(), json!(5));
    object.insert("request_guid".into(), json!("not encrypted"));
    let km = km_seed();
    decrypt_json(&mut object, Receiver::Worker { key: Some(&km) }).unwrap();
    assert_eq!(object["user"], "alice");
    assert_eq!(object["request_guid"], "not encrypted");
    assert_eq!(object["messages"][0]["content"], "hi");
}

#[test]
fn damaged_ciphertexts_give_the_cipher_errors() {
    let content = encrypted_request()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = {
        let mut bytes = content.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    };
    for (value, expected) in [
        ("ENC_abc".to_owned(), pair("Wrong hex string length", 0)),
        ("ENC_zz".to_owned(), pair("Wrong hex string", 0)),
        (
            "ENC_00".to_owned(),
            pair("Failed to decrypt: encrypted_data is less than 16 bytes", 0),
        ),
        (
            format!("ENC_{}", "00".repeat(17)),
            pair("Failed to decrypt: data size is not divisible by 16", 0),
        ),
        (
            format!("ENC_{}", "00".repeat(32)),
            pair("Failed to decrypt: msg_id mismatch", 0),
        ),
        (flipped, pair("Failed to decrypt: msg_id mismatch", 0)),
    ] {
        let mut object = encrypted_request();
        object["messages"][0]["content"] = json!(value);
        assert_eq!(worker_error(object), expected, "{value}");
    }
}

#[test]
fn caller_checks_the_answer_sender_and_refuses_clear_answers() {
    let mut answer = parse_object(br#"{"id":"x","choices":[]}"#).unwrap();
    let km = km_seed();
    let caller = caller_seed();
    let caller_key = caller.public_key();
    encrypt_json(&mut answer, &km, &caller_key, Direction::WorkerToCaller).unwrap();

    // An answer from another key.
    let mut object = answer.clone();
    let receiver = Receiver::Caller {
        seed: Some(&caller),
        expected_sender: Some(caller_key),
    };
    let err = decrypt_json(&mut object, receiver).unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair("sender public key mismatch", 602)
    );

    // A clear answer: a caller holding a seed gets the reference's first check.
    let mut clear = parse_object(br#"{"id":"x"}"#).unwrap();
    let err = decrypt_json(
        &mut clear,
        Receiver::Caller {
            seed: Some(&caller),
            expected_sender: Some(key(KM_PUBLIC)),
        },
    )
    .unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair(
            "encryption key is provided, but request is unencrypted",
            602
        )
    );
    let err = decrypt_json(
        &mut clear,
        Receiver::Caller {
            seed: None,
            expected_sender: Some(key(KM_PUBLIC)),
        },
    )
    .unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair("public key is provided, but request is unencrypted", 602)
    );

    // Decrypting with the wrong direction fails authentication.
    let mut object = answer.clone();
    let err = decrypt_json(&mut object, Receiver::Worker { key: Some(&caller) }).unwrap_err();
    assert_eq!(err, E2eError::MsgIdMismatch);

    let mut object = answer;
    let receiver = Receiver::Caller {
        seed: Some(&caller),
        expected_sender: Some(key(KM_PUBLIC)),
    };
    assert_eq!(
        decrypt_json(&mut object, receiver),
        Ok(Some(key(KM_PUBLIC)))
    );
    assert_eq!(object["id"], "x");
}

#[test]
fn form_errors_follow_the_same_rules() {
    let km = km_seed();
    let mut clear = Form::new();
    clear.insert("model".into(), FormPart::field("model", "whisper"));
    let err = decrypt_form(&mut clear.clone(), Receiver::Worker { key: Some(&km) }).unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair(
            "encryption key is provided, but request is unencrypted",
            602
        )
    );

    let mut form = clear.clone();
    form.insert("file".into(), FormPart::field("file", vec![0u8, 1, 2, 255]));
    encrypt_form(
        &mut form,
        &caller_seed(),
        &key(KM_PUBLIC),
        Direction::CallerToWorker,
    )
    .unwrap();
    let mut missing = form.clone();
    missing.remove("encryption_nonce");
    let err = decrypt_form(&mut missing, Receiver::Worker { key: Some(&km) }).unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair("not all encryption-related fields are present", 602)
    );

    let mut bad = form.clone();
    bad.insert("language".into(), FormPart::field("language", "en"));
    let err = decrypt_form(&mut bad, Receiver::Worker { key: Some(&km) }).unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair("bad encryption method: ", 621)
    );

    let err = decrypt_form(&mut form.clone(), Receiver::Worker { key: None }).unwrap_err();
    assert_eq!(
        (err.to_string(), err.code()),
        pair("cannot find private key for an encrypted request", 602)
    );
}
