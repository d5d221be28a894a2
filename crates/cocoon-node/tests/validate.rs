//! Request validation: the worker's schema walker and rewrites (delta §4.3–§4.8), the client's
//! light checks (§4.2), and the OpenAI error shape.

use cocoon_node::validate::{
    validate_client_request, validate_worker_json, validate_worker_request, Endpoint, RequestError,
    DEFAULT_CLIENT_MAX_TOKENS,
};
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";
const COMPLETIONS: &str = "/v1/completions";

fn worker(path: &str, body: Value) -> Result<Value, RequestError> {
    let v = validate_worker_request(path, body.to_string().as_bytes())?;
    Ok(serde_json::from_slice(&v.body).unwrap())
}

fn worker_err(path: &str, body: Value) -> RequestError {
    match validate_worker_request(path, body.to_string().as_bytes()) {
        Ok(v) => panic!(
            "expected rejection of {body}, got {}",
            String::from_utf8_lossy(&v.body)
        ),
        Err(e) => e,
    }
}

fn chat(extra: Value) -> Value {
    let mut body = json!({
        "model": "Qwen/Qwen3-8B",
        "messages": [{"role": "user", "content": "hi"}],
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    body
}

#[test]
fn valid_chat_request_passes_and_is_sorted_compact() {
    let body = json!({
        "temperature": 0.7,
        "model": "Qwen/Qwen3-8B",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"type": "function", "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ],
        "chat_template_kwargs": {"enable_thinking": false},
        "stop": "\n\n",
        "seed": 7,
        "n": 1,
    });
    let v = validate_worker_request(CHAT, body.to_string().as_bytes()).unwrap();
    assert_eq!(v.endpoint, Endpoint::ChatCompletions);
    assert_eq!(v.model, "Qwen/Qwen3-8B");
    assert!(!v.stream);
    assert_eq!(v.max_tokens, None);
    let text = String::from_utf8(v.body.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"chat_template_kwargs":{"enable_thinking":false},"messages":["#),
        "{text}"
    );
    assert!(
        !text.contains(": ") && !text.contains('\n'),
        "compact: {text}"
    );
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["messages"], body["messages"]);
    v.check_model("Qwen/Qwen3-8B@abc:def").unwrap();
    let e = v.check_model("Other/Model@x").unwrap_err();
    assert_eq!((e.ton_code, e.code), (621, "model_not_found"));
}

#[test]
fn valid_completions_request_passes() {
    let out = worker(
        COMPLETIONS,
        json!({"model": "m", "prompt": ["a", "b"], "echo": false, "logprobs": 2, "suffix": "x"}),
    )
    .unwrap();
    assert_eq!(out["prompt"], json!(["a", "b"]));
    let e = worker_err(COMPLETIONS, json!({"model": "m", "prompt": [1, 2]}));
    assert_eq!(e.message, ".prompt[0] must be a string");
}

#[test]
fn routing_follows_the_worker_rule() {
    // Everything before the first '/' is cut; the rest must match exactly.
    assert!(validate_worker_request(
        "http://host/v1/completions",
        br#"{"model":"m","prompt":"p"}"#
    )
    .is_err());
    assert!(validate_worker_request("x/v1/completions", br#"{"model":"m","prompt":"p"}"#).is_ok());
    for url in ["/v1/chat/completions?x=1", "/v1/embeddings", ""] {
        let e = validate_worker_request(url, b"{}").unwrap_err();
        assert_eq!(
            (e.ton_code, e.http_status, e.code),
            (621, 400, "unknown_url"),
            "{url}"
        );
        assert!(e.message.starts_with("unsupported method"));
    }
    // The transcription endpoint is served, but takes a form, not JSON.
    let e = validate_worker_request("/v1/audio/transcriptions", b"{}").unwrap_err();
    assert_eq!((e.http_status, e.code), (400, "invalid_content_type"));
}

#[test]
fn malformed_json_and_non_objects_are_rejected() {
    for body in [
        &b"{"[..],
        b"",
        b"[1,2]",
        b"\"text\"",
        b"{} trailing",
        b"\xff\xfe",
    ] {
        let e = validate_worker_request(CHAT, body).unwrap_err();
        assert_eq!(
            (e.ton_code, e.http_status, e.code),
            (621, 400, "invalid_json")
        );
        assert!(
            e.message.starts_with("expected json object"),
            "{}",
            e.message
        );
    }
}

#[test]
fn missing_required_fields() {
    let e = worker_err(CHAT, json!({"messages": []}));
    assert_eq!(e.message, "'request' must have a field 'model'");
    assert_eq!(
        (e.code, e.param.as_deref()),
        ("missing_required_parameter", Some("model"))
    );
    let e = worker_err(CHAT, json!({"model": "m"}));
    assert_eq!(e.param.as_deref(), Some("messages"));
    let e = worker_err(COMPLETIONS, json!({"model": "m"}));
    assert_eq!(e.param.as_deref(), Some("prompt"));
    let e = worker_err(CHAT, chat(json!({"messages": [{"role": "user"}]})));
    assert_eq!(e.message, "'.messages[0]' must have a field 'content'");
    assert_eq!(e.param.as_deref(), Some("messages[0].content"));
    let e = worker_err(CHAT, chat(json!({"messages": [{"content": "x"}]})));
    assert_eq!(e.param.as_deref(), Some("messages[0].role"));
}

#[test]
fn unknown_fields_are_rejected_at_every_level() {
    let e = worker_err(CHAT, chat(json!({"frobnicate": 1})));
    assert_eq!(e.message, "request has unknown field 'frobnicate'");
    assert_eq!(
        (e.code, e.param.as_deref()),
        ("unknown_parameter", Some("frobnicate"))
    );
    let e = worker_err(
        CHAT,
        chat(json!({"messages": [{"role": "user", "content": "x", "reasoning_content": "y"}]})),
    );
    assert_eq!(
        e.message,
        ".messages[0] has unknown field 'reasoning_content'"
    );
    let e = worker_err(
        CHAT,
        chat(
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a", "x": 1}]}]}),
        ),
    );
    assert_eq!(e.param.as_deref(), Some("messages[0].content[0].x"));
    let e = worker_err(
        CHAT,
        chat(json!({"chat_template_kwargs": {"enable_thinking": true, "foo": 1}})),
    );
    assert_eq!(e.message, ".chat_template_kwargs has unknown field 'foo'");
    let e = worker_err(
        COMPLETIONS,
        json!({"model": "m", "prompt": "p", "logit_bias": {}}),
    );
    assert_eq!(e.param.as_deref(), Some("logit_bias"));
}

#[test]
fn forbidden_fields_are_rejected() {
    for field in [
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "logit_bias",
        "metadata",
        "web_search_options",
    ] {
        let e = worker_err(CHAT, chat(json!({ field: [] })));
        assert_eq!(e.code, "unknown_parameter", "{field}");
        assert_eq!(e.param.as_deref(), Some(field));
    }
}

#[test]
fn wrong_types_are_rejected() {
    let cases = [
        (
            json!({"temperature": "hot"}),
            ".temperature must be a number",
        ),
        (json!({"n": 1.5}), ".n must be an integer"),
        (json!({"stream": "yes"}), ".stream must be a boolean"),
        (json!({"model": 5}), ".model must be a string"),
        (
            json!({"messages": {"role": "user"}}),
            ".messages must be an array",
        ),
        (json!({"stop": [1]}), ".stop[0] must be a string"),
        (
            json!({"stream_options": 5}),
            ".stream_options must be an object",
        ),
        (
            json!({"messages": ["hi"]}),
            ".messages[0] must be an object",
        ),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            ".messages[0].content must be a string",
        ),
        (
            json!({"messages": [{"role": "user", "content": null}]}),
            ".messages[0].content must be a string",
        ),
        (json!({"model": null}), ".model must be a string"),
    ];
    for (extra, message) in cases {
        let e = worker_err(CHAT, chat(extra.clone()));
        assert_eq!(e.message, message, "{extra}");
        assert_eq!(
            (e.ton_code, e.http_status, e.code),
            (621, 400, "invalid_type")
        );
    }
}

#[test]
fn unknown_roles_and_part_types() {
    let e = worker_err(
        CHAT,
        chat(json!({"messages": [{"role": "robot", "content": "x"}]})),
    );
    assert_eq!(e.message, ".messages[0] has unknown role robot");
    let e = worker_err(
        CHAT,
        chat(json!({"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]})),
    );
    assert_eq!(e.message, ".messages[0].content[0] has unknown type video");
    let long_type = "t".repeat(200);
    let e = worker_err(
        CHAT,
        chat(
            json!({"messages": [{"role": "user", "content": [{"type": long_type, "text": "a"}]}]}),
        ),
    );
    assert!(e.message.contains("not longer than 128 chars"));
}

#[test]
fn openai_inputs_the_reference_rejects_are_accepted() {
    // Deviations 1–9 of the module doc.
    let ok = [
        json!({"temperature": null, "stop": null}),
        json!({"service_tier": "auto"}),
        json!({"audio": {"format": "wav", "voice": {"id": "v1"}}, "modalities": ["text", "audio"]}),
        json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"format": "wav", "data": "UklGRg=="}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "image", "image": {"url": "https://example.com/x.png"}}
        ]}]}),
        json!({"prediction": {"type": "content", "content": "x"}}),
    ];
    for extra in ok {
        worker(CHAT, chat(extra.clone())).unwrap_or_else(|e| panic!("{extra}: {e}"));
    }
}

#[test]
fn stream_rewrites() {
    // stream: true ⇒ include_usage forced (object created when missing).
    let out = worker(CHAT, chat(json!({"stream": true}))).unwrap();
    assert_eq!(out["stream_options"], json!({"include_usage": true}));
    let out = worker(
        CHAT,
        chat(json!({"stream": true, "stream_options": {"include_usage": false, "include_obfuscation": true}})),
    )
    .unwrap();
    assert_eq!(
        out["stream_options"],
        json!({"include_obfuscation": true, "include_usage": true})
    );
    let out = worker(CHAT, chat(json!({"stream": true, "stream_options": null}))).unwrap();
    assert_eq!(out["stream_options"], json!({"include_usage": true}));
    // Not streaming ⇒ stream_options deleted (no implicit stream = true any more).
    let out = worker(
        COMPLETIONS,
        json!({"model": "m", "prompt": "p", "stream_options": {"include_usage": true}}),
    )
    .unwrap();
    assert!(out.get("stream_options").is_none());
    assert!(out.get("stream").is_none());
    let v = validate_worker_request(COMPLETIONS, br#"{"model":"m","prompt":"p","stream":true}"#)
        .unwrap();
    assert!(v.stream);
}

#[test]
fn max_tokens_rewrites() {
    let v = validate_worker_request(CHAT, chat(json!({"max_tokens": 50})).to_string().as_bytes())
        .unwrap();
    assert_eq!(v.max_tokens, Some(50));
    let out: Value = serde_json::from_slice(&v.body).unwrap();
    assert_eq!(
        (
            out["max_tokens"].clone(),
            out["max_completion_tokens"].clone()
        ),
        (json!(50), json!(50))
    );
    // Both present: max_completion_tokens wins (deviation 10).
    let out = worker(
        CHAT,
        chat(json!({"max_tokens": 50, "max_completion_tokens": 70})),
    )
    .unwrap();
    assert_eq!(
        (
            out["max_tokens"].clone(),
            out["max_completion_tokens"].clone()
        ),
        (json!(70), json!(70))
    );
    // Zero or negative: left alone, no limit reported.
    let v = validate_worker_request(CHAT, chat(json!({"max_tokens": 0})).to_string().as_bytes())
        .unwrap();
    assert_eq!(v.max_tokens, None);
    let out: Value = serde_json::from_slice(&v.body).unwrap();
    assert_eq!(out["max_tokens"], json!(0));
    assert!(out.get("max_completion_tokens").is_none());
}

#[test]
fn envelope_fields_are_known_but_encrypted_bodies_need_a_key() {
    let out = worker(CHAT, chat(json!({"receiver_public_key": "ab"}))).unwrap();
    assert_eq!(out["receiver_public_key"], json!("ab"));
    let e = worker_err(CHAT, chat(json!({"is_encrypted": "v1"})));
    assert_eq!((e.ton_code, e.http_status), (602, 500));
    assert_eq!(
        e.message,
        "cannot find private key for an encrypted request"
    );
    // A caller that decrypted first validates the plain value.
    let v = validate_worker_json(
        Endpoint::ChatCompletions,
        chat(json!({"is_encrypted": "v1"})),
    )
    .unwrap();
    assert_eq!(v.model, "Qwen/Qwen3-8B");
}

#[test]
fn openai_error_shape() {
    let e = worker_err(CHAT, chat(json!({"tools": []})));
    let j = e.to_openai_json();
    assert_eq!(
        j,
        json!({"error": {
            "message": "request has unknown field 'tools'",
            "type": "invalid_request_error",
            "param": "tools",
            "code": "unknown_parameter"
        }})
    );
}

#[test]
fn client_light_checks() {
    let r = validate_client_request(
        CHAT,
        br#"{"model":"m","messages":[],"max_coefficient":2000,"timeout":30,"enable_debug":true,"request_guid":"g1","seed":5}"#,
    )
    .unwrap();
    assert_eq!(
        (r.model.as_str(), r.max_tokens, r.max_coefficient),
        ("m", DEFAULT_CLIENT_MAX_TOKENS, 2000)
    );
    assert_eq!((r.timeout_seconds, r.enable_debug), (30.0, true));
    let expected_guid: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"g1").into();
    assert_eq!(r.request_guid_sha256, Some(expected_guid));
    // Control fields removed, default max_tokens injected, OpenAI fields untouched, sorted keys.
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"{"max_tokens":10000,"messages":[],"model":"m","seed":5}"#
    );
    let r = validate_client_request(
        COMPLETIONS,
        br#"{"model":"m","max_completion_tokens":77,"max_tokens":5}"#,
    )
    .unwrap();
    assert_eq!(r.max_tokens, 77);
    assert_eq!(
        (r.max_coefficient, r.timeout_seconds, r.enable_debug),
        (4000, 120.0, false)
    );
    let key_hex = "11".repeat(32);
    let body = format!(r#"{{"model":"m","receiver_public_key":"{key_hex}"}}"#);
    let r = validate_client_request(CHAT, body.as_bytes()).unwrap();
    assert_eq!(r.receiver_public_key, Some([0x11; 32]));
    assert!(
        String::from_utf8(r.body).unwrap().contains(&key_hex),
        "key kept in the body"
    );

    let rejects: [(&str, &[u8], &str); 9] = [
        ("/v1/models", b"{}", "unknown_url"),
        ("/v1/audio/transcriptions", b"{}", "invalid_content_type"),
        (CHAT, b"nope", "invalid_json"),
        (CHAT, br#"{"messages":[]}"#, "missing_required_parameter"),
        (CHAT, br#"{"model":"m","max_tokens":-1}"#, "invalid_type"),
        (
            CHAT,
            br#"{"model":"m","max_tokens":4294967296}"#,
            "invalid_type",
        ),
        (CHAT, br#"{"model":"m","timeout":0}"#, "invalid_type"),
        (
            CHAT,
            br#"{"model":"m","enable_debug":"yes"}"#,
            "invalid_type",
        ),
        (
            CHAT,
            br#"{"model":"m","receiver_public_key":"short"}"#,
            "invalid_value",
        ),
    ];
    for (path, body, code) in rejects {
        let e = validate_client_request(path, body).unwrap_err();
        assert_eq!(
            (e.code, e.ton_code),
            (code, 621),
            "{path} {}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn deeply_nested_garbage_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000);
    let body = format!(r#"{{"model":"m","messages":[],"response_format":{deep}}}"#);
    assert!(validate_worker_request(CHAT, body.as_bytes()).is_err());
    let body = format!(r#"{{"model":"m","timeout":{deep}}}"#);
    assert!(validate_client_request(CHAT, body.as_bytes()).is_err());
}
