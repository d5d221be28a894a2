use super::*;
use cocoon_e2e::{Direction, Seed};
use proptest::prelude::*;
use serde_json::json;

fn km() -> Seed {
    Seed::from_bytes([7; 32])
}

/// A worker-side encrypted answer line for `keys`' caller.
fn sealed_line(value: Value, keys: &RequestKeys) -> String {
    let Value::Object(mut object) = value else {
        panic!("object");
    };
    cocoon_e2e::json::encrypt_json(
        &mut object,
        &km(),
        &keys.caller.public_key(),
        Direction::WorkerToCaller,
    )
    .expect("encrypt");
    Value::Object(object).to_string()
}

fn chunk(text: &str) -> Value {
    json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]})
}

#[test]
fn clear_sse_gives_each_payload_and_skips_done_and_comments() {
    let body = format!(
        ": keep-alive\n\nevent: message\ndata: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk("a"),
        chunk("b")
    );
    let mut d = AnswerDecoder::new(None);
    let got = d.push(body.as_bytes()).expect("decodes");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["choices"][0]["delta"]["content"], "b");
    assert!(d.finish().expect("end").is_empty());
}

#[test]
fn encrypted_sse_and_ndjson_open_with_the_request_keys() {
    let keys = RequestKeys::fresh(km().public_key());
    let sse = format!(
        "data: {}\n\ndata: [DONE]\n\n",
        sealed_line(chunk("hi"), &keys)
    );
    let ndjson = format!("{}\n", sealed_line(chunk("hi"), &keys));
    for body in [sse, ndjson] {
        let mut d = AnswerDecoder::new(Some(keys.clone()));
        let got = d.push(body.as_bytes()).expect("opens");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["choices"][0]["delta"]["content"], "hi");
        assert!(!got[0].contains_key("is_encrypted"), "envelope removed");
    }
}

#[test]
fn with_keys_a_clear_or_foreign_line_is_refused() {
    let keys = RequestKeys::fresh(km().public_key());
    let mut d = AnswerDecoder::new(Some(keys.clone()));
    let clear = format!("data: {}\n", chunk("injected"));
    assert!(matches!(
        d.push(clear.as_bytes()),
        Err(Error::Encryption(_))
    ));
    // Sealed by another key than the one the request went to.
    let foreign = RequestKeys {
        caller: keys.caller.clone(),
        key_manager: Seed::from_bytes([8; 32]).public_key(),
    };
    let mut d = AnswerDecoder::new(Some(foreign));
    let line = format!("{}\n", sealed_line(chunk("x"), &keys));
    assert!(matches!(d.push(line.as_bytes()), Err(Error::Encryption(_))));
}

#[test]
fn a_line_past_the_bound_is_an_error_not_a_buffer() {
    let mut d = AnswerDecoder::new(None);
    let big = vec![b'x'; MAX_LINE / 2 + 1];
    d.push(&big).expect("half is fine");
    assert!(matches!(d.push(&big), Err(Error::Decode(_))));
}

#[test]
fn a_whole_body_is_one_object_in_either_framing() {
    let keys = RequestKeys::fresh(km().public_key());
    let completion = json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]});
    let plain = decode_whole(completion.to_string().as_bytes(), None).expect("plain");
    assert_eq!(plain["id"], "x");
    let sealed = format!("{}\n", sealed_line(completion, &keys));
    let opened = decode_whole(sealed.as_bytes(), Some(keys)).expect("sealed");
    assert_eq!(opened["choices"][0]["message"]["content"], "ok");
    assert!(decode_whole(b"data: {}\n\ndata: {}\n", None).is_err());
}

proptest! {
    /// However the body is cut into parts, the same objects come out.
    #[test]
    fn chunking_does_not_change_the_objects(cuts in proptest::collection::vec(0usize..400, 0..8)) {
        let body = format!("data: {}\n\ndata: {}\n\ndata: [DONE]\n\n", chunk("one"), chunk("two"));
        let bytes = body.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut d = AnswerDecoder::new(None);
        let mut got = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            got.extend(d.push(&bytes[from..cut]).expect("decodes"));
            from = cut;
        }
        got.extend(d.finish().expect("end"));
        prop_assert_eq!(got.len(), 2);
        prop_assert_eq!(&got[1]["choices"][0]["delta"]["content"], "two");
    }

    /// Arbitrary bytes never panic the decoder, with or without keys.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), keyed: bool) {
        let keys = keyed.then(|| RequestKeys::fresh(km().public_key()));
        let mut d = AnswerDecoder::new(keys.clone());
        let _ = d.push(&bytes);
        let _ = d.finish();
        let _ = decode_whole(&bytes, keys);
    }
}
