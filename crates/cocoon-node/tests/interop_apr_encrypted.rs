//! Bytes recorded with the April-2026 reference's `encrypt-message` (`tests/data/interop-apr-enc/`,
//! its README says how): the caller requests it encrypted in a `scripts/interop` run, and our
//! worker's sealed answer to such a request with what `encrypt-message -d` made of it. Here
//! `cocoon-e2e` must open the requests to the plain requests they were made from, and every
//! answer line to exactly what the reference decrypted. No reference binary is needed.

use std::collections::HashSet;
use std::path::PathBuf;

use cocoon_e2e::json::decrypt_request_body;
use cocoon_e2e::stream::decrypt_answer_line;
use cocoon_e2e::{E2eError, PublicKey, Seed};
use serde_json::{Map, Value};

const CALLER_PUBLIC: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
const KM_PUBLIC: &str = "fb67d0fcd338f20e0d4957d9e82adc101d2e3513a448a3ab46052ee1b88c5818";
const KM_SEED: &str = "070ad82e6132dab32067fb720afd0060555a64f905bbec0dc2849088951b3a63";

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/interop-apr-enc")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn key(hex_text: &str) -> [u8; 32] {
    hex::decode(hex_text)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// The caller seed `scripts/interop` uses: bytes 00 01 .. 1f.
fn caller_seed() -> Seed {
    Seed::from_bytes(std::array::from_fn(|i| i as u8))
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// Decrypts a recorded answer with `cocoon-e2e`, checks it against the reference's
/// decryption of the same bytes, and returns the clear values.
fn open_recorded_answer(answer: &str, decrypted_by_reference: &str) -> Vec<Map<String, Value>> {
    let encrypted = data(answer);
    let reference = data(decrypted_by_reference);
    let (encrypted, reference) = (lines(&encrypted), lines(&reference));
    assert_eq!(
        encrypted.len(),
        reference.len(),
        "{answer}: one value per line"
    );
    let caller = caller_seed();
    let km = PublicKey(key(KM_PUBLIC));
    let mut nonces = HashSet::new();
    let mut opened = Vec::new();
    for (n, (line, theirs)) in encrypted.iter().zip(&reference).enumerate() {
        let sealed: Map<String, Value> = serde_json::from_slice(line).expect("a JSON object");
        assert_eq!(sealed["sender_public_key"], KM_PUBLIC, "{answer}:{n}");
        assert_eq!(sealed["receiver_public_key"], CALLER_PUBLIC, "{answer}:{n}");
        let nonce = sealed["encryption_nonce"]
            .as_str()
            .expect("nonce")
            .to_owned();
        assert!(nonces.insert(nonce), "{answer}:{n}: a fresh nonce per line");
        let ours =
            decrypt_answer_line(line, &caller, &km).unwrap_or_else(|e| panic!("{answer}:{n}: {e}"));
        let theirs: Map<String, Value> = serde_json::from_slice(theirs).expect("JSON");
        assert_eq!(ours, theirs, "{answer}:{n}: as the reference decrypted it");
        opened.push(ours);
    }
    opened
}

#[test]
fn our_sealed_answer_decrypts_as_the_reference_tool_decrypted_it() {
    let values = open_recorded_answer(
        "rs-worker-sealed-answer.ndjson",
        "rs-worker-sealed-answer.dec.ndjson",
    );
    let last = values.last().expect("values");
    assert_eq!(last["usage"]["total_tokens"], 5, "{last:?}");
    assert!(values
        .iter()
        .all(|v| !Value::Object(v.clone()).to_string().contains("ENC_")));
}

#[test]
fn a_recorded_answer_is_refused_under_another_caller_or_sender_key() {
    let answer = data("rs-worker-sealed-answer.ndjson");
    let line = lines(&answer)[1];
    let km = PublicKey(key(KM_PUBLIC));
    let stranger = Seed::from_bytes([7; 32]);
    assert!(decrypt_answer_line(line, &stranger, &km).is_err());
    let other_sender = caller_seed().public_key();
    assert_eq!(
        decrypt_answer_line(line, &caller_seed(), &other_sender).err(),
        Some(E2eError::SenderKeyMismatch)
    );
}

#[test]
fn the_reference_tools_requests_open_to_the_plain_requests_it_was_given() {
    let km = Seed::from_bytes(key(KM_SEED));
    for kind in ["nonstream", "stream"] {
        let file = format!("caller-request-{kind}.json");
        let (mut clear, caller) = decrypt_request_body(&data(&file), Some(&km)).expect("opens");
        assert_eq!(caller.map(|k| k.to_hex()).as_deref(), Some(CALLER_PUBLIC));
        for name in cocoon_e2e::envelope::ENVELOPE_FIELDS {
            clear.remove(name);
        }
        let plain: Value =
            serde_json::from_slice(&data(&format!("plain-request-{kind}.json"))).expect("JSON");
        assert_eq!(Value::Object(clear), plain, "{file}");
    }
}

/// The clear values of an opened answer without the envelope (nonce and keys differ per line).
fn without_envelope(values: &[Map<String, Value>]) -> Vec<Map<String, Value>> {
    values
        .iter()
        .map(|v| {
            let mut v = v.clone();
            for name in cocoon_e2e::envelope::ENVELOPE_FIELDS {
                v.remove(name);
            }
            v
        })
        .collect()
}

/// Every string value of a sealed line outside the envelope and the never-encrypted names is
/// `ENC_…` (delta-2026-04.md §2.4).
fn assert_sealed(file: &str) {
    fn walk(v: &Value, path: &str, file: &str) {
        const PLAIN: [&str; 12] = [
            "is_encrypted",
            "sender_public_key",
            "receiver_public_key",
            "encryption_nonce",
            "model",
            "max_completion_tokens",
            "max_tokens",
            "max_coefficient",
            "timeout",
            "debug",
            "enable_debug",
            "request_guid",
        ];
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if !PLAIN.contains(&k.as_str()) {
                        walk(v, &format!("{path}.{k}"), file);
                    }
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), file);
                }
            }
            Value::String(s) => assert!(s.starts_with("ENC_"), "{file}: clear value at {path}"),
            _ => {}
        }
    }
    let bytes = data(file);
    for (n, line) in lines(&bytes).iter().enumerate() {
        let v: Value = serde_json::from_slice(line).expect("JSON");
        walk(&v, &format!("line {n}: $"), file);
    }
}

/// The answers a live April network gave to the reference tool's encrypted request (`scripts/interop`,
/// pairings ref-ref-ref and ref-ref-rs; README): the reference worker's and our worker's, each
/// sealed for the caller, non-streamed and streamed. `cocoon-e2e` opens every line to what the
/// reference's `encrypt-message -d` made of it, and both workers said the same thing.
#[test]
fn live_answers_of_the_reference_worker_and_ours_open_alike() {
    for kind in ["nonstream", "stream"] {
        let theirs_file = format!("ref-worker-answer-{kind}.ndjson");
        let ours_file = format!("rs-worker-network-answer-{kind}.ndjson");
        assert_sealed(&theirs_file);
        assert_sealed(&ours_file);
        let theirs = open_recorded_answer(
            &theirs_file,
            &format!("ref-worker-answer-{kind}.dec.ndjson"),
        );
        let ours = open_recorded_answer(
            &ours_file,
            &format!("rs-worker-network-answer-{kind}.dec.ndjson"),
        );
        let last = theirs.last().expect("values");
        assert_eq!(
            last["usage"]["total_tokens"], 134,
            "{theirs_file}: {last:?}"
        );
        assert_eq!(last["usage"]["total_cost"], 268, "{theirs_file}: {last:?}");
        assert_eq!(
            without_envelope(&ours),
            without_envelope(&theirs),
            "{kind}: our worker's clear answer is the reference worker's"
        );
    }
}
