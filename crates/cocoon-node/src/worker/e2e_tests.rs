//! The worker's decrypt and seal path fed with a request the April-2026 reference's
//! `encrypt-message` made for `scripts/interop` (`tests/data/interop-apr-enc/`): opened with
//! the key manager seed the proxy hands over, the body the engine sees is the clear request;
//! an answer sealed for the caller opens with the caller's seed and the key manager's key (its
//! lines are printed: `-- --nocapture` gives what `tests/data/interop-apr-enc/` fed to the
//! reference's `encrypt-message -d`).

use super::{open_json_body, AnswerSealer};
use cocoon_e2e::stream::decrypt_answer_line;
use cocoon_e2e::{PublicKey, Seed};
use serde_json::{json, Value};

const KM_SEED: &str = "070ad82e6132dab32067fb720afd0060555a64f905bbec0dc2849088951b3a63";
const CALLER_PUBLIC: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";

const REQUEST_STREAM: &[u8] =
    include_bytes!("../../tests/data/interop-apr-enc/caller-request-stream.json");
const REQUEST_NONSTREAM: &[u8] =
    include_bytes!("../../tests/data/interop-apr-enc/caller-request-nonstream.json");

fn km_seed() -> Seed {
    let bytes: [u8; 32] = hex::decode(KM_SEED).unwrap().try_into().unwrap();
    Seed::from_bytes(bytes)
}

fn caller_seed() -> Seed {
    Seed::from_bytes(std::array::from_fn(|i| i as u8))
}

#[test]
fn the_reference_callers_request_opens_to_the_clear_request_for_the_engine() {
    for (body, stream) in [(REQUEST_NONSTREAM, false), (REQUEST_STREAM, true)] {
        let (clear, caller) = open_json_body(body, Some(&km_seed())).expect("opens");
        assert_eq!(caller.map(|k| k.to_hex()).as_deref(), Some(CALLER_PUBLIC));
        let clear: Value = serde_json::from_slice(&clear).expect("clear JSON");
        // The envelope is gone; what the engine sees is the caller's plain request.
        assert_eq!(
            clear,
            json!({
                "model": "Qwen/Qwen3-8B",
                "messages": [{"role": "user", "content": "Say hello"}],
                "max_tokens": 100,
                "stream": stream,
            })
        );
    }
}

#[test]
fn the_reference_callers_request_is_refused_without_the_right_seed() {
    let (code, text) = open_json_body(REQUEST_STREAM, None).expect_err("no key");
    assert_eq!(code, 602);
    assert!(
        text.ends_with("cannot find private key for an encrypted request"),
        "{text}"
    );
    let (code, text) =
        open_json_body(REQUEST_STREAM, Some(&Seed::from_bytes([9; 32]))).expect_err("other key");
    assert_eq!(code, 602);
    assert!(text.ends_with("public key mismatch"), "{text}");
}

#[test]
fn an_answer_to_the_reference_caller_opens_with_its_seed_line_by_line() {
    let (_, caller) = open_json_body(REQUEST_STREAM, Some(&km_seed())).expect("opens");
    let caller = caller.expect("encrypted");
    let values = [
        json!({"bytes": 128, "chunks": 2, "delay": 0}),
        json!({"i": 0, "delta": "00"}),
        json!({"i": 1, "delta": "00"}),
        json!({"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
    ];
    let answer: String = values.iter().map(|v| format!("{v}\n")).collect();
    let mut sealer = AnswerSealer::new("application/json", km_seed(), caller);
    // Chunked at an awkward place: values are sealed only once complete.
    let (a, b) = answer.as_bytes().split_at(37);
    let mut sealed = sealer.push(a).expect("seal");
    sealed.extend(sealer.push(b).expect("seal"));
    sealed.extend(sealer.finish().expect("clean end"));
    let km = PublicKey(
        hex::decode("fb67d0fcd338f20e0d4957d9e82adc101d2e3513a448a3ab46052ee1b88c5818")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let text = String::from_utf8(sealed).expect("utf-8");
    // The sealed lines, for `encrypt-message -d` (tests/data/interop-apr-enc/README.md).
    println!("{text}");
    let opened: Vec<Value> = text
        .lines()
        .map(|l| {
            let mut v = decrypt_answer_line(l.as_bytes(), &caller_seed(), &km).expect("opens");
            for f in cocoon_e2e::envelope::ENVELOPE_FIELDS {
                v.remove(f);
            }
            Value::Object(v)
        })
        .collect();
    assert_eq!(opened, values);
}
