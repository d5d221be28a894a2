//! Requests and a streamed answer encrypted by the April-2026 reference
//! (`$COCOON_VECTORS/encryption`), decrypted here and compared with its plaintexts.

mod support;

use cocoon_e2e::envelope::{ENCRYPTION_NONCE, ENVELOPE_FIELDS, IS_ENCRYPTED};
use cocoon_e2e::json::{decrypt_json, decrypt_request_body, encrypt_request_body, parse_object};
use cocoon_e2e::stream::decrypt_answer_line;
use cocoon_e2e::{Receiver, Seed};
use serde_json::{Map, Value};
use support::{caller_seed, encryption_vectors, key, km_seed, read, CALLER_PUBLIC, KM_PUBLIC};

fn without_envelope(mut object: Map<String, Value>) -> Map<String, Value> {
    for name in ENVELOPE_FIELDS {
        object.remove(name);
    }
    object
}

#[test]
fn caller_seed_file_is_the_documented_seed() {
    let Some(dir) = encryption_vectors() else {
        return;
    };
    let seed: [u8; 32] = read(&dir, "caller.seed").try_into().expect("32-byte seed");
    assert_eq!(Seed::from_bytes(seed).public_key().to_hex(), CALLER_PUBLIC);
}

#[test]
fn worker_decrypts_reference_requests_to_the_plaintext() {
    let Some(dir) = encryption_vectors() else {
        return;
    };
    let plain = parse_object(&read(&dir, "plain.json")).unwrap();
    let km = km_seed();
    for (file, stream) in [("enc.json", None), ("enc-stream.json", Some(true))] {
        let (object, caller) = decrypt_request_body(&read(&dir, file), Some(&km)).unwrap();
        assert_eq!(caller, Some(key(CALLER_PUBLIC)), "{file}");
        // The envelope stays (it is forwarded to the backend).
        assert_eq!(object[IS_ENCRYPTED], "v1");
        let mut expected = plain.clone();
        if let Some(flag) = stream {
            expected.insert("stream".into(), Value::Bool(flag));
        }
        assert_eq!(without_envelope(object), expected, "{file}");
    }
}

#[test]
fn caller_decrypts_the_reference_streamed_answer_line_by_line() {
    let Some(dir) = encryption_vectors() else {
        return;
    };
    let encrypted = read(&dir, "answer-stream.enc.ndjson");
    let decrypted = read(&dir, "answer-stream.dec.ndjson");
    let caller = caller_seed();
    let km = key(KM_PUBLIC);
    let enc_lines: Vec<&[u8]> = encrypted
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let dec_lines: Vec<&[u8]> = decrypted
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(enc_lines.len(), dec_lines.len());
    assert_eq!(
        enc_lines.len(),
        52,
        "a header line, 50 deltas and a usage line"
    );
    let mut nonces = std::collections::HashSet::new();
    for (enc, dec) in enc_lines.iter().zip(&dec_lines) {
        let ours = decrypt_answer_line(enc, &caller, &km).unwrap();
        let theirs = parse_object(dec).unwrap();
        assert_eq!(ours, theirs);
        nonces.insert(ours[ENCRYPTION_NONCE].as_str().unwrap().to_owned());
    }
    assert_eq!(nonces.len(), enc_lines.len(), "a fresh nonce per line");
}

#[test]
fn our_request_for_the_reference_plaintext_opens_with_the_km_seed() {
    let Some(dir) = encryption_vectors() else {
        return;
    };
    let plain_bytes = read(&dir, "plain.json");
    let body = encrypt_request_body(&plain_bytes, &caller_seed(), &key(KM_PUBLIC)).unwrap();
    let mut object = parse_object(body.as_bytes()).unwrap();
    // model stays clear for routing; role and content are ENC_ values.
    assert_eq!(object["model"], "Qwen/Qwen3-8B");
    assert!(object["messages"][0]["content"]
        .as_str()
        .unwrap()
        .starts_with("ENC_"));
    assert!(object["messages"][0]["role"]
        .as_str()
        .unwrap()
        .starts_with("ENC_"));
    assert_eq!(object["sender_public_key"], CALLER_PUBLIC);
    assert_eq!(object["receiver_public_key"], KM_PUBLIC);
    let km = km_seed();
    decrypt_json(&mut object, Receiver::Worker { key: Some(&km) }).unwrap();
    assert_eq!(
        without_envelope(object),
        parse_object(&plain_bytes).unwrap()
    );
}
