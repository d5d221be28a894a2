//! Unit tests of [`super`]: the COCOON fields, the defaults, and the client's 400s
//! (its own checks and the worker's schema).

use super::*;

fn body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap_or_default()
}

#[test]
fn extension_fields_are_read_and_removed() {
    let req = prepare(
        "/v1/chat/completions",
        Vec::new(),
        &body(
            serde_json::json!({"model": "m", "messages": [], "max_coefficient": 1500, "timeout": 7.5,
            "enable_debug": true, "request_guid": "g", "stream": true, "max_tokens": 33}),
        ),
    );
    let req = req.unwrap_or_else(|e| panic!("prepare failed: {e:?}"));
    assert_eq!(
        (req.max_coefficient, req.max_tokens, req.timeout),
        (1500, 33, 7.5)
    );
    assert!(req.enable_debug && req.stream);
    assert_eq!(req.request_guid.as_deref(), Some("g"));
    let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    for gone in ["max_coefficient", "timeout", "enable_debug", "request_guid"] {
        assert!(
            sent.get(gone).is_none(),
            "{gone} must not be forwarded: {sent}"
        );
    }
    assert_eq!(sent["max_tokens"], 33);
}

#[test]
fn defaults_and_injected_max_tokens() {
    let req = prepare(
        "/v1/completions",
        Vec::new(),
        &body(serde_json::json!({"model": "m", "prompt": "x"})),
    );
    let req = req.unwrap_or_else(|e| panic!("prepare failed: {e:?}"));
    assert_eq!(req.max_coefficient as u64, DEFAULT_MAX_COEFFICIENT);
    assert_eq!(req.timeout, DEFAULT_TIMEOUT_S);
    assert!(!req.stream);
    let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    assert_eq!(sent["max_tokens"], DEFAULT_MAX_TOKENS);
}

#[test]
fn bad_requests_are_400_with_param() {
    let cases = [
        (b"{not json".to_vec(), None),
        (b"[1,2]".to_vec(), None),
        (body(serde_json::json!({"messages": []})), Some("model")),
        (body(serde_json::json!({"model": 5})), Some("model")),
        (
            body(serde_json::json!({"model": "m", "max_coefficient": -1})),
            Some("max_coefficient"),
        ),
        (
            body(serde_json::json!({"model": "m", "timeout": "soon"})),
            Some("timeout"),
        ),
        (
            body(serde_json::json!({"model": "m", "stream": "yes"})),
            Some("stream"),
        ),
        (
            body(serde_json::json!({"model": "m", "max_tokens": 1.5})),
            Some("max_tokens"),
        ),
    ];
    for (b, param) in cases {
        match prepare("/v1/chat/completions", Vec::new(), &b) {
            Ok(_) => panic!("accepted {}", String::from_utf8_lossy(&b)),
            Err(e) => {
                assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
                assert_eq!(e.param.as_deref(), param, "{}", String::from_utf8_lossy(&b));
            }
        }
    }
}

#[test]
fn unknown_members_are_refused_with_the_workers_error() {
    let cases = [
        (
            "/v1/chat/completions",
            serde_json::json!({"model": "m", "messages": [], "temprature": 0.5}),
            "temprature",
        ),
        (
            "/v1/chat/completions",
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi", "nmae": "x"}]}),
            "messages[0].nmae",
        ),
        (
            "/v1/completions",
            serde_json::json!({"model": "m", "prompt": "x", "stream_options": {"include_usage": true, "extra": 1}}),
            "stream_options.extra",
        ),
    ];
    for (path, b, param) in cases {
        let worker = crate::validate::validate_worker_request(path, &body(b.clone()))
            .expect_err("the worker refuses it");
        match prepare(path, Vec::new(), &body(b.clone())) {
            Ok(_) => panic!("accepted {b}"),
            Err(e) => {
                assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{b}");
                assert_eq!(e.code, "unknown_parameter", "{b}");
                assert_eq!(e.param.as_deref(), Some(param), "{b}");
                assert_eq!(e, ApiError::from(worker), "the worker's own error for {b}");
            }
        }
    }
}

#[test]
fn known_members_and_the_encryption_envelope_pass() {
    let b = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5, "stream": true, "stream_options": {"include_usage": true},
        "max_coefficient": 2000, "timeout": 5, "receiver_public_key": "00".repeat(32)});
    let req = prepare("/v1/chat/completions", Vec::new(), &body(b));
    assert!(req.is_ok(), "{req:?}");
}

#[test]
fn an_encrypted_body_names_its_key_for_the_proxy() {
    let key = "fb67d0fcd338f20e0d4957d9e82adc101d2e3513a448a3ab46052ee1b88c5818";
    let b = serde_json::json!({"model": "m", "messages": [], "is_encrypted": "v1",
        "receiver_public_key": key, "sender_public_key": "00".repeat(32),
        "encryption_nonce": "n"});
    let req = prepare("/v1/chat/completions", Vec::new(), &body(b)).expect("prepared");
    assert_eq!(req.encrypted_with.map(hex::encode).as_deref(), Some(key));
    let kept: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(
        kept["receiver_public_key"], key,
        "the field stays in the body"
    );

    let plain = serde_json::json!({"model": "m", "messages": []});
    let req = prepare("/v1/chat/completions", Vec::new(), &body(plain)).expect("prepared");
    assert_eq!(req.encrypted_with, None);

    let bad = serde_json::json!({"model": "m", "messages": [], "receiver_public_key": "abc"});
    let err = prepare("/v1/chat/completions", Vec::new(), &body(bad)).expect_err("refused");
    assert!(
        format!("{err:?}").contains("receiver_public_key"),
        "{err:?}"
    );
}

/// The April reference's encrypted request (`vectors/encryption/enc.json`): the client
/// cannot read the encrypted values, so it must not refuse them (the worker validates the
/// clear request), and it forwards the key manager key it names.
#[test]
fn the_reference_encrypted_request_passes_the_client() {
    let Some(dir) = std::env::var_os("COCOON_VECTORS").map(std::path::PathBuf::from) else {
        assert!(std::env::var_os("CI").is_none(), "CI needs COCOON_VECTORS");
        println!("skipped: COCOON_VECTORS not set (the April-2026 encryption vectors)");
        return;
    };
    for file in ["enc.json", "enc-stream.json"] {
        let bytes = std::fs::read(dir.join("encryption").join(file)).expect("vector");
        let req = prepare("/v1/chat/completions", Vec::new(), &bytes)
            .unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert!(req.encrypted_with.is_some(), "{file}");
    }
}
