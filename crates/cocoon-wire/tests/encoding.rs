//! Byte-exact encodings (runners.md §2.3/§2.4 worked examples), flags
//! handling, and rejection of malformed input.

use cocoon_wire::dynamic::{decode_json, encode_json};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes, DecodeErrorKind, Reader, TlRead, TlWrite};
use serde_json::json;

const OWNER: &str = "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m";

fn connect_to_proxy_call() -> functions::client::ConnectToProxy {
    functions::client::ConnectToProxy {
        params: types::client::Params {
            flags: 3,
            client_owner_address: OWNER.into(),
            is_test: Some(true),
            min_proto_version: Some(1),
            max_proto_version: Some(2),
        },
        min_config_version: 3,
    }
}

#[test]
fn tcp_connect_payload_matches_worked_example() {
    let packet = enums::tcp::Packet::Connect(types::tcp::Connect {
        id: 0x1122334455667788,
    });
    let bytes = to_bytes(&packet);
    assert_eq!(hex::encode(&bytes), "61427ca58877665544332211");
    assert_eq!(from_bytes::<enums::tcp::Packet>(&bytes).unwrap(), packet);
}

#[test]
fn connect_to_proxy_query_matches_worked_example() {
    let inner = to_bytes(&connect_to_proxy_call());
    let mut expected_inner = hex::decode("f4a05fff03000000").unwrap();
    expected_inner.push(48);
    expected_inner.extend_from_slice(OWNER.as_bytes());
    expected_inner.extend_from_slice(&[0, 0, 0]);
    expected_inner.extend_from_slice(&hex::decode("b5757299010000000200000003000000").unwrap());
    assert_eq!(inner, expected_inner);
    assert_eq!(inner.len(), 76);

    let query = types::tcp::Query {
        id: 0x0102030405060708,
        data: inner,
    };
    let payload = to_bytes(&enums::tcp::Packet::Query(query));
    let mut expected = hex::decode("0819f53a08070605040302014c").unwrap();
    expected.extend_from_slice(&expected_inner);
    expected.extend_from_slice(&[0, 0, 0]);
    assert_eq!(payload, expected);
    // The frame header of the example says the payload is 0x5c = 92 bytes.
    assert_eq!(payload.len(), 0x5c);

    // And the JSON layer produces the same bytes.
    let json = json!({
        "@type": "client.connectToProxy",
        "params": {"flags": 3, "client_owner_address": OWNER, "is_test": true,
                   "min_proto_version": 1, "max_proto_version": 2},
        "min_config_version": 3
    });
    assert_eq!(encode_json(&json).unwrap(), expected_inner);
}

#[test]
fn string_length_prefix_forms_and_padding() {
    for (len, prefix_len) in [
        (0usize, 1usize),
        (1, 1),
        (3, 1),
        (253, 1),
        (254, 4),
        (1000, 4),
        (70000, 4),
    ] {
        let packet = types::tcp::Packet {
            data: vec![0xab; len],
        };
        let bytes = to_bytes(&packet);
        assert_eq!(bytes.len() % 4, 0, "len {len}");
        assert_eq!(
            bytes.len(),
            4 + (prefix_len + len).div_ceil(4) * 4,
            "len {len}"
        );
        if prefix_len == 1 {
            assert_eq!(bytes[4] as usize, len);
        } else {
            assert_eq!(bytes[4], 0xfe);
            assert_eq!(
                u32::from_le_bytes([bytes[5], bytes[6], bytes[7], 0]) as usize,
                len
            );
        }
        assert_eq!(from_bytes::<types::tcp::Packet>(&bytes).unwrap(), packet);
    }
}

#[test]
fn bool_is_boxed() {
    let call = functions::worker::ProxyHandshakeComplete { is_disabled: false };
    assert_eq!(hex::encode(to_bytes(&call)), "66b043f8379779bc");
}

#[test]
fn worker_params_flag_bit_2_carries_machine_description() {
    let params = types::worker::Params {
        flags: 0,
        worker_owner_address: "owner".into(),
        model: "m".into(),
        coefficient: 1000,
        is_test: Some(false),
        proxy_cnt: Some(2),
        max_active_requests: Some(10),
        min_proto_version: Some(3),
        max_proto_version: Some(4),
        machine_description_json: Some("{\"gpu\":\"H200\"}".into()),
    };
    assert_eq!(params.wire_flags(), 0b111);
    let mut bytes = Vec::new();
    params.write_bare(&mut bytes);
    assert_eq!(bytes.len(), params.bare_len());
    assert_eq!(&bytes[..4], &7u32.to_le_bytes());
    // The description is the last field: a 14-byte string padded to 16.
    assert_eq!(
        &bytes[bytes.len() - 16..bytes.len() - 1],
        b"\x0e{\"gpu\":\"H200\"}"
    );

    let read = types::worker::Params::read_bare(&mut Reader::new(&bytes)).unwrap();
    assert_eq!(
        read,
        types::worker::Params {
            flags: 7,
            ..params.clone()
        }
    );

    // April workers (minimum protocol 3) leave bit 2 clear: flags = 3.
    let april = types::worker::Params {
        machine_description_json: None,
        ..params
    };
    assert_eq!(april.wire_flags(), 3);
    let call = functions::worker::ConnectToProxy { params: april };
    let json = decode_json(&to_bytes(&call)).unwrap();
    assert_eq!(json["params"]["flags"], 3);
    assert!(json["params"].get("machine_description_json").is_none());
}

#[test]
fn stored_flag_bits_are_derived_from_options_and_other_bits_kept() {
    let params = types::client::Params {
        // bit 1 claims present but the fields are None; bit 5 has no field.
        flags: (1 << 1) | (1 << 5),
        client_owner_address: String::new(),
        is_test: Some(true),
        min_proto_version: None,
        max_proto_version: None,
    };
    assert_eq!(params.wire_flags(), (1 << 0) | (1 << 5));
    let decoded: types::client::Params = {
        let mut out = Vec::new();
        params.write_bare(&mut out);
        types::client::Params::read_bare(&mut Reader::new(&out)).unwrap()
    };
    assert_eq!(decoded.flags, (1 << 0) | (1 << 5));
    assert_eq!(decoded.min_proto_version, None);
}

#[test]
fn run_query_ex_public_key_uses_flag_bit_1() {
    let call = functions::client::RunQueryEx {
        model_name: "model".into(),
        query: vec![1, 2, 3],
        max_coefficient: 4000,
        max_tokens: 100,
        timeout: 30.5,
        request_id: [0x11; 32],
        min_config_version: 3,
        flags: 0,
        enable_debug: None,
        public_key: Some([0x22; 32]),
    };
    let bytes = to_bytes(&call);
    assert_eq!(&bytes[..4], &0xf54cb74bu32.to_le_bytes());
    // flags then the 32-byte key close the message.
    assert_eq!(
        &bytes[bytes.len() - 36..bytes.len() - 32],
        &2u32.to_le_bytes()
    );
    assert_eq!(&bytes[bytes.len() - 32..], &[0x22; 32]);
    assert_eq!(
        from_bytes::<functions::client::RunQueryEx>(&bytes).unwrap(),
        functions::client::RunQueryEx {
            flags: 2,
            ..call.clone()
        }
    );

    // Without the key the encoding is what a December peer writes (flags 0, nothing after).
    let old = functions::client::RunQueryEx {
        public_key: None,
        ..call
    };
    let old_bytes = to_bytes(&old);
    assert_eq!(old_bytes.len(), bytes.len() - 32);
    assert_eq!(&old_bytes[old_bytes.len() - 4..], &0u32.to_le_bytes());

    let json = decode_json(&bytes).unwrap();
    assert_eq!(json["flags"], 2);
    assert_eq!(
        json["public_key"],
        "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI="
    );
    assert_eq!(json["timeout"], 30.5);
    assert!(json.get("enable_debug").is_none());
    assert_eq!(encode_json(&json).unwrap(), bytes);
}

#[test]
fn remote_call_names_its_answer_type() {
    fn answer_of<F: cocoon_wire::tl::RemoteCall>(_: &F, bytes: &[u8]) -> F::Return {
        from_bytes::<F::Return>(bytes).unwrap()
    }
    let call = functions::key_manager::GetWorkerPrivateKeys { proto_version: 4 };
    let keys = types::key_manager::PrivateKeys {
        keys: vec![types::key_manager::PrivateKey {
            valid_until_utime: 5,
            private_key: [3; 32],
        }],
    };
    let decoded = answer_of(&call, &to_bytes(&keys));
    assert_eq!(decoded, enums::key_manager::PrivateKeys::PrivateKeys(keys));
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = to_bytes(&types::tcp::Ping { id: 1 });
    bytes.push(0);
    let err = from_bytes::<enums::tcp::Packet>(&bytes).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::TrailingBytes(1));
    assert_eq!(err.offset, 12);
    assert!(decode_json(&bytes).is_err());
}

#[test]
fn bad_bool_id_is_rejected_with_location() {
    let mut bytes = to_bytes(&functions::worker::ProxyHandshakeComplete { is_disabled: true });
    bytes[4..8].copy_from_slice(&0x12345678u32.to_le_bytes());
    let err = from_bytes::<functions::worker::ProxyHandshakeComplete>(&bytes).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::InvalidBool(0x12345678));
    assert_eq!(err.offset, 4);
    assert_eq!(
        err.location.constructor,
        Some("worker.proxyHandshakeComplete")
    );
    assert_eq!(err.location.field, Some("is_disabled"));
    let text = decode_json(&bytes).unwrap_err().to_string();
    assert!(text.contains("is_disabled"), "{text}");
}

#[test]
fn unknown_constructor_is_rejected() {
    let bytes = 0xdeadbeefu32.to_le_bytes();
    let err = from_bytes::<enums::tcp::Packet>(&bytes).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::UnknownConstructor {
            id: 0xdeadbeef,
            expected: "tcp.Packet"
        }
    );
    // A known constructor of another type is also refused by a typed decoder.
    let ping = to_bytes(&types::tcp::Ping { id: 5 });
    assert!(from_bytes::<enums::client::QueryAnswerEx>(&ping).is_err());
    assert!(decode_json(&bytes).is_err());
}

#[test]
fn huge_vector_count_fails_without_allocating() {
    // client.workerTypes with count 0x7fffffff and nothing behind it.
    let mut bytes = 0xf64e0e01u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&i32::MAX.to_le_bytes());
    let err = from_bytes::<enums::client::WorkerTypes>(&bytes).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::VectorTooLong {
                count: 0x7fff_ffff,
                max: 0
            }
        ),
        "{err}"
    );
    assert!(decode_json(&bytes).is_err());

    // A count that is larger than the remaining bytes allow (each int256 is 32 bytes).
    let mut keys = 0x0ed66ce5u32.to_le_bytes().to_vec(); // keyManager.privateKeys
    keys.extend_from_slice(&3i32.to_le_bytes());
    keys.extend_from_slice(&[0u8; 36 * 2]); // room for only two keys
    let err = from_bytes::<enums::key_manager::PrivateKeys>(&keys).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::VectorTooLong { count: 3, max: 2 }
        ),
        "{err}"
    );

    let mut negative = 0x0ed66ce5u32.to_le_bytes().to_vec();
    negative.extend_from_slice(&(-1i32).to_le_bytes());
    let err = from_bytes::<enums::key_manager::PrivateKeys>(&negative).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::NegativeCount(-1));
}

#[test]
fn oversized_and_truncated_strings_are_rejected() {
    // 0xff prefix announcing 2^32 bytes.
    let mut bytes = 0x9c17baf8u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0xff, 0, 0, 0, 0, 1, 0, 0]);
    let err = from_bytes::<enums::tcp::Packet>(&bytes).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::StringTooLong {
                length: 0x1_0000_0000,
                ..
            }
        ),
        "{err}"
    );

    // 0xfe prefix announcing 1000 bytes, only 10 present.
    let mut bytes = 0x9c17baf8u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0xfe, 0xe8, 0x03, 0x00]);
    bytes.extend_from_slice(&[0; 10]);
    let err = from_bytes::<enums::tcp::Packet>(&bytes).unwrap_err();
    assert!(
        matches!(err.kind, DecodeErrorKind::UnexpectedEnd { .. }),
        "{err}"
    );
}

#[test]
fn every_truncation_of_a_valid_message_is_an_error() {
    let bytes = to_bytes(&enums::tcp::Packet::Query(types::tcp::Query {
        id: 9,
        data: to_bytes(&connect_to_proxy_call()),
    }));
    for cut in 0..bytes.len() {
        assert!(
            from_bytes::<enums::tcp::Packet>(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
        assert!(decode_json(&bytes[..cut]).is_err(), "cut {cut}");
    }
    let call = to_bytes(&connect_to_proxy_call());
    for cut in 0..call.len() {
        assert!(
            from_bytes::<functions::AnyFunction>(&call[..cut]).is_err(),
            "cut {cut}"
        );
    }
}

#[test]
fn invalid_utf8_in_string_is_an_error() {
    let mut bytes = to_bytes(&functions::worker::ChangeModel {
        new_model: "abc".into(),
    });
    bytes[5] = 0xff; // first byte of the text
    let err = from_bytes::<functions::worker::ChangeModel>(&bytes).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::InvalidUtf8);
    assert_eq!(err.location.field, Some("new_model"));
    let text = decode_json(&bytes).unwrap_err().to_string();
    assert!(text.contains("UTF-8"), "{text}");
}

#[test]
fn lenient_reading_accepts_what_the_reference_accepts() {
    // Non-zero padding and a long-form prefix for a short string decode, and
    // re-encode to the canonical form.
    let canonical = to_bytes(&types::tcp::Packet { data: vec![1, 2] });
    let mut dirty = canonical.clone();
    dirty[7] = 0xaa; // padding byte
    let value = from_bytes::<types::tcp::Packet>(&dirty).unwrap();
    assert_eq!(to_bytes(&value), canonical);

    let mut long_prefix = 0x9c17baf8u32.to_le_bytes().to_vec();
    long_prefix.extend_from_slice(&[0xfe, 2, 0, 0, 1, 2, 0, 0]);
    assert_eq!(
        from_bytes::<types::tcp::Packet>(&long_prefix).unwrap(),
        value
    );
}

#[test]
fn any_function_dispatches_by_id() {
    let bytes = to_bytes(&connect_to_proxy_call());
    match from_bytes::<functions::AnyFunction>(&bytes).unwrap() {
        functions::AnyFunction::ClientConnectToProxy(call) => {
            assert_eq!(call, connect_to_proxy_call())
        }
        other => panic!("wrong variant {}", other.constructor_name()),
    }
    let packet = to_bytes(&types::tcp::Ping { id: 1 });
    assert!(from_bytes::<functions::AnyFunction>(&packet).is_err());
}

#[test]
fn json_encode_errors_name_the_field() {
    let err = encode_json(&json!({"@type": "tcp.ping", "id": "x"})).unwrap_err();
    assert_eq!(err.path, "id");
    let err = encode_json(&json!({"@type": "tcp.ping", "idd": 1})).unwrap_err();
    assert!(err.message.contains("idd"), "{err}");
    let err = encode_json(&json!({"@type": "tcp.pingg", "id": 1})).unwrap_err();
    assert!(err.message.contains("tcp.pingg"), "{err}");
    let err = encode_json(&json!({
        "@type": "client.connectToProxy",
        "params": {"flags": 2, "client_owner_address": "a", "min_proto_version": 1},
        "min_config_version": 3
    }))
    .unwrap_err();
    assert_eq!(err.path, "params.max_proto_version", "{err}");
    let err = encode_json(&json!({
        "@type": "http.response", "http_version": "HTTP/1.1", "status_code": 200, "reason": "OK",
        "headers": [{"name": "a", "value": "b"}, {"name": "a"}], "payload": ""
    }))
    .unwrap_err();
    assert_eq!(err.path, "headers[1].value", "{err}");
    let err = encode_json(&json!({
        "@type": "client.paymentStatus", "signed_payment": {"@type": "tcp.ping", "id": 1},
        "db_tokens": 1, "max_tokens": 2
    }))
    .unwrap_err();
    assert_eq!(err.path, "signed_payment", "{err}");
}

#[test]
fn json_long_and_double_forms() {
    let big = i64::MAX;
    let bytes = to_bytes(&types::tcp::Ping { id: big });
    let json = decode_json(&bytes).unwrap();
    assert_eq!(json["id"], big.to_string());
    assert_eq!(encode_json(&json).unwrap(), bytes);
    let small = to_bytes(&types::tcp::Ping { id: -(1 << 53) });
    assert_eq!(decode_json(&small).unwrap()["id"], -(1i64 << 53));
    // A long may be given as a string even when small.
    assert_eq!(
        encode_json(&json!({"@type": "tcp.ping", "id": "5"})).unwrap(),
        to_bytes(&types::tcp::Ping { id: 5 })
    );

    for (value, text) in [
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
        (f64::NAN, "NaN"),
        (
            f64::from_bits(0x7ff0_0000_0000_0001),
            "NaN:0x7ff0000000000001",
        ),
    ] {
        let call = functions::proxy::RunQuery {
            query: vec![],
            signed_payment: types::proxy::SignedPaymentEmpty {}.into(),
            coefficient: 1,
            timeout: value,
            request_id: [0; 32],
        };
        let bytes = to_bytes(&call);
        let json = decode_json(&bytes).unwrap();
        assert_eq!(json["timeout"], text);
        assert_eq!(encode_json(&json).unwrap(), bytes);
    }
}
