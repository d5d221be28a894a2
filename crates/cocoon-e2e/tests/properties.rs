//! Fuzz-style properties: round trips hold, any tampering is refused, and no input to a
//! decoder panics (every failure is one of the reference's errors).

mod support;

use cocoon_e2e::cipher::{decrypt_data, decrypt_string, encrypt_data, encrypt_string};
use cocoon_e2e::json::{decrypt_json, encrypt_json};
use cocoon_e2e::multipart::{decrypt_form, parse_form, write_form, Form, FormPart};
use cocoon_e2e::stream::{decrypt_answer_line, AnswerEncryptor};
use cocoon_e2e::{Direction, E2eError, PublicKey, Receiver};
use proptest::prelude::*;
use serde_json::{Map, Value};
use support::{caller_seed, key, km_seed, KM_PUBLIC};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("model".to_owned()),
                    Just("debug".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z_]{1,10}", json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

/// What a receiver may answer for a hostile envelope: anything from §2.6 or the cipher.
fn is_envelope_error(err: &E2eError) -> bool {
    is_decrypt_error(err)
        || matches!(
            err,
            E2eError::EnvelopeIncomplete
                | E2eError::KeyBadLength
                | E2eError::Base64Character
                | E2eError::Base64Padding
                | E2eError::PublicKeyMismatch
                | E2eError::SharedSecret
                | E2eError::KeyForUnencrypted
        )
}

fn is_decrypt_error(err: &E2eError) -> bool {
    matches!(
        err,
        E2eError::BadMethod(_)
            | E2eError::HexLength
            | E2eError::HexCharacter
            | E2eError::CipherTooShort
            | E2eError::CipherNotBlocks
            | E2eError::MsgIdMismatch
            | E2eError::InvalidPrefix
            | E2eError::NotUtf8
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cipher_round_trips(data in prop::collection::vec(any::<u8>(), 0..300), secret in any::<[u8; 32]>()) {
        let blob = encrypt_data(&data, &secret);
        prop_assert_eq!(blob.len() % 16, 0);
        prop_assert_eq!(decrypt_data(&blob, &secret).unwrap(), data.clone());
        prop_assert_eq!(decrypt_string(encrypt_string(&data, &secret).as_bytes(), &secret).unwrap(), data);
    }

    #[test]
    fn any_flipped_bit_or_other_secret_is_refused(
        data in prop::collection::vec(any::<u8>(), 0..100),
        secret in any::<[u8; 32]>(),
        bit in any::<prop::sample::Index>(),
        other in any::<[u8; 32]>(),
    ) {
        let mut blob = encrypt_data(&data, &secret);
        let at = bit.index(blob.len() * 8);
        blob[at / 8] ^= 1 << (at % 8);
        prop_assert_eq!(decrypt_data(&blob, &secret), Err(E2eError::MsgIdMismatch));
        blob[at / 8] ^= 1 << (at % 8);
        prop_assume!(other != secret);
        prop_assert_eq!(decrypt_data(&blob, &other), Err(E2eError::MsgIdMismatch));
    }

    #[test]
    fn string_decoder_never_panics(value in prop::collection::vec(any::<u8>(), 0..120), secret in any::<[u8; 32]>()) {
        let mut enc = b"ENC_".to_vec();
        enc.extend_from_slice(&value);
        for input in [value, enc] {
            if let Err(err) = decrypt_string(&input, &secret) {
                prop_assert!(is_decrypt_error(&err), "{err:?}");
            }
        }
    }

    #[test]
    fn json_objects_round_trip(object in object()) {
        let mut encrypted = object.clone();
        encrypt_json(&mut encrypted, &caller_seed(), &key(KM_PUBLIC), Direction::CallerToWorker).unwrap();
        let km = km_seed();
        let sender = decrypt_json(&mut encrypted, Receiver::Worker { key: Some(&km) }).unwrap();
        prop_assert_eq!(sender, Some(caller_seed().public_key()));
        for name in cocoon_e2e::envelope::ENVELOPE_FIELDS {
            encrypted.remove(name);
        }
        prop_assert_eq!(encrypted, object);
    }

    #[test]
    fn json_decoder_never_panics(object in object(), sender in "[0-9a-f]{64}|.{0,50}", nonce in ".{0,50}") {
        let mut object = object;
        object.insert("is_encrypted".into(), "v1".into());
        object.insert("sender_public_key".into(), sender.into());
        object.insert("receiver_public_key".into(), KM_PUBLIC.into());
        object.insert("encryption_nonce".into(), nonce.into());
        let km = km_seed();
        // An arbitrary sender key is most often refused; never with a panic.
        if let Err(err) = decrypt_json(&mut object, Receiver::Worker { key: Some(&km) }) {
            prop_assert!(is_envelope_error(&err), "{err:?}");
        }
    }

    #[test]
    fn key_fields_never_panic(field in prop::collection::vec(any::<u8>(), 0..70)) {
        match PublicKey::parse_field(&field) {
            Ok(_) => prop_assert!([32, 44, 64].contains(&field.len())),
            Err(err) => prop_assert!(matches!(
                err,
                E2eError::KeyBadLength | E2eError::HexCharacter | E2eError::HexLength
                    | E2eError::Base64Character | E2eError::Base64Padding
            )),
        }
    }

    #[test]
    fn form_parser_never_panics(body in prop::collection::vec(prop_oneof![
        Just(b'-'), Just(b'\r'), Just(b'\n'), Just(b':'), Just(b'"'), Just(b'b'), any::<u8>()
    ], 0..200)) {
        let parsed = parse_form("multipart/form-data; boundary=b", &body);
        if let Err(err) = &parsed {
            prop_assert_eq!(err, &E2eError::BadMultipart);
        }
        if let Ok(mut form) = parsed {
            let km = km_seed();
            if let Err(err) = decrypt_form(&mut form, Receiver::Worker { key: Some(&km) }) {
                prop_assert!(is_envelope_error(&err), "{err:?}");
            }
        }
    }

    #[test]
    fn forms_round_trip_through_write_and_parse(
        fields in prop::collection::btree_map("[a-z]{1,8}", prop::collection::vec(any::<u8>(), 0..64), 0..5)
    ) {
        let form: Form = fields.iter().map(|(n, v)| (n.clone(), FormPart::field(n, v.clone()))).collect();
        let content_type = "multipart/form-data; boundary=----b0undary";
        // A value containing the delimiter cannot be written; the generated bytes are too short for it.
        let body = write_form(content_type, &form).unwrap();
        prop_assert_eq!(parse_form(content_type, &body).unwrap(), form);
    }

    #[test]
    fn answer_streams_chunked_anywhere_open_to_the_same_objects(
        objects in prop::collection::vec(object(), 1..4),
        cuts in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut backend = Vec::new();
        for object in &objects {
            backend.extend_from_slice(Value::Object(object.clone()).to_string().as_bytes());
            backend.extend_from_slice(b"\n ");
        }
        let caller = caller_seed();
        let mut encryptor = AnswerEncryptor::new(km_seed(), caller.public_key());
        let mut out = String::new();
        let mut rest = &backend[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
            out.push_str(&encryptor.push(chunk).unwrap());
            rest = tail;
        }
        prop_assert!(encryptor.pending().is_empty());
        let lines: Vec<_> = out.lines().collect();
        prop_assert_eq!(lines.len(), objects.len());
        for (line, object) in lines.iter().zip(&objects) {
            let mut opened = decrypt_answer_line(line.as_bytes(), &caller, &key(KM_PUBLIC)).unwrap();
            for name in cocoon_e2e::envelope::ENVELOPE_FIELDS {
                opened.remove(name);
            }
            prop_assert_eq!(&opened, object);
        }
    }

    #[test]
    fn answer_stream_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..5)) {
        let mut encryptor = AnswerEncryptor::new(km_seed(), caller_seed().public_key());
        for chunk in &chunks {
            match encryptor.push(chunk) {
                Ok(lines) => {
                    for line in lines.lines() {
                        prop_assert!(decrypt_answer_line(line.as_bytes(), &caller_seed(), &key(KM_PUBLIC)).is_ok());
                    }
                }
                Err(err) => {
                    prop_assert_eq!(err, E2eError::BadAnswerStream);
                    break;
                }
            }
        }
    }
}
