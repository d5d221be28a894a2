//! Fuzz target `tl_decode`: arbitrary bytes into the schema-driven JSON
//! decoder and into the typed decoders of the main top-level types.
//!
//! Oracles: no panic; whatever decodes re-encodes and decodes to the same
//! value, and the JSON and typed layers agree on the canonical bytes.

#![no_main]

use cocoon_wire::dynamic::{decode_json, encode_json};
use cocoon_wire::schema::{enums, functions};
use cocoon_wire::tl::{from_bytes, to_bytes, Boxed};
use libfuzzer_sys::fuzz_target;

/// Typed decode; on success, the canonical re-encoding.
fn typed_round_trip<T: Boxed + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<Vec<u8>> {
    let value = from_bytes::<T>(data).ok()?;
    let bytes = to_bytes(&value);
    let again = from_bytes::<T>(&bytes).expect("re-encoded value must decode");
    assert_eq!(again, value);
    Some(bytes)
}

fuzz_target!(|data: &[u8]| {
    let json_bytes = decode_json(data).ok().map(|json| {
        let bytes = encode_json(&json).expect("decoded JSON must encode");
        assert_eq!(
            decode_json(&bytes).expect("re-encoded bytes must decode"),
            json
        );
        bytes
    });
    let typed = [
        typed_round_trip::<enums::tcp::Packet>(data),
        typed_round_trip::<enums::client::QueryAnswerEx>(data),
        typed_round_trip::<enums::client::ConnectedToProxy>(data),
        typed_round_trip::<enums::proxy::QueryAnswerEx>(data),
        typed_round_trip::<functions::AnyFunction>(data),
    ];
    for bytes in typed.into_iter().flatten() {
        assert_eq!(
            json_bytes.as_ref(),
            Some(&bytes),
            "JSON layer must accept what the typed layer accepts"
        );
    }
});
