//! `/v1/audio/transcriptions` forms (delta-2026-04.md §4.7, §4.9): parsing and writing out,
//! the worker's schema and rewrite, the client's control fields, and refusals (missing file,
//! wrong model, unknown field, oversize, bad boundary, junk bytes).

use cocoon_node::client::request::prepare;
use cocoon_node::validate::form::{Form, MAX_FORM_BODY_BYTES};
use cocoon_node::validate::{
    validate_worker_http, RequestError, ValidatedRequest, MAX_REQUEST_BODY_BYTES,
};
use proptest::prelude::*;

const URL: &str = "/v1/audio/transcriptions";
const BOUNDARY: &str = "XyZ-boundary-42";
const MODEL: &str = "Qwen/Qwen3-8B";

/// A form as a client sends it: `fields` as text parts, then the file (if any).
fn form(fields: &[(&str, &str)], file: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    if let Some(data) = file {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
                 Content-Type: audio/wav\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

fn worker(body: &[u8]) -> Result<ValidatedRequest, RequestError> {
    validate_worker_http(URL, Some(&content_type()), body)
}

fn names(f: &Form) -> Vec<&str> {
    f.parts().iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn a_form_is_written_out_in_name_order_with_its_headers_and_boundary() {
    let audio = b"RIFF\x00\x01binary\r\n--not-the-boundary\x00\xff";
    let body = form(&[("model", MODEL), ("language", "en")], Some(audio));
    let v = worker(&body).expect("valid form");
    assert_eq!(v.model, MODEL);
    assert!(!v.stream);
    assert_eq!(v.content_type, content_type());
    let out = Form::parse(Some(&v.content_type), &v.body).expect("written form parses");
    assert_eq!(names(&out), ["file", "language", "model"]);
    let file = out.get("file").unwrap();
    assert_eq!(&file.data[..], audio, "the upload travels byte for byte");
    assert_eq!(file.filename().as_deref(), Some("a.wav"));
    assert!(file
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v == "audio/wav"));
    let text = String::from_utf8_lossy(&v.body);
    assert!(text.starts_with(&format!("--{BOUNDARY}\r\n")), "{text}");
    assert!(text.ends_with(&format!("--{BOUNDARY}--\r\n")), "{text}");
}

#[test]
fn the_worker_rewrites_max_tokens_and_reads_stream() {
    let body = form(
        &[
            ("model", MODEL),
            ("max_completion_tokens", "77"),
            ("max_tokens", "5"),
            ("stream", "true"),
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
            ("timestamp_granularities[]", "segment"),
        ],
        Some(b"x"),
    );
    let v = worker(&body).unwrap();
    assert_eq!(v.max_tokens, Some(77));
    assert!(v.stream);
    let out = Form::parse(Some(&v.content_type), &v.body).unwrap();
    assert_eq!(&out.get("max_tokens").unwrap().data[..], b"77");
    let granularities: Vec<&[u8]> = out
        .parts()
        .iter()
        .filter(|p| p.name == "timestamp_granularities[]")
        .map(|p| &p.data[..])
        .collect();
    assert_eq!(
        granularities,
        [&b"word"[..], &b"segment"[..]],
        "array parts kept in order"
    );
}

#[test]
fn refusals_are_400s_naming_the_field() {
    let cases: [(Vec<u8>, &str, Option<&str>); 6] = [
        (
            form(&[("model", MODEL)], None),
            "missing_required_parameter",
            Some("file"),
        ),
        (
            form(&[], Some(b"x")),
            "missing_required_parameter",
            Some("model"),
        ),
        (
            form(&[("model", MODEL), ("logit_bias", "{}")], Some(b"x")),
            "unknown_parameter",
            Some("logit_bias"),
        ),
        (
            form(&[("model", MODEL), ("temperature", "warm")], Some(b"x")),
            "invalid_type",
            Some("temperature"),
        ),
        (
            form(&[("model", MODEL), ("response_format", "srt")], Some(b"x")),
            "invalid_value",
            Some("response_format"),
        ),
        (
            form(&[("model", MODEL), ("stream", "yes")], Some(b"x")),
            "invalid_type",
            Some("stream"),
        ),
    ];
    for (body, code, param) in cases {
        let e = worker(&body).unwrap_err();
        assert_eq!((e.ton_code, e.http_status, e.code), (621, 400, code), "{e}");
        assert_eq!(e.param.as_deref(), param, "{e}");
    }
}

#[test]
fn encrypted_forms_are_refused_not_passed_on() {
    let body = form(
        &[
            ("model", MODEL),
            ("is_encrypted", "1"),
            ("sender_public_key", "00"),
        ],
        Some(b"ENC_00"),
    );
    let e = worker(&body).unwrap_err();
    assert_eq!((e.ton_code, e.code), (602, "encryption_unsupported"), "{e}");
}

#[test]
fn the_wrong_model_is_refused_by_the_worker() {
    let v = worker(&form(&[("model", "other/model")], Some(b"x"))).unwrap();
    let e = v.check_model("Qwen/Qwen3-8B@v1").unwrap_err();
    assert_eq!((e.http_status, e.code), (400, "model_not_found"));
    assert!(e.message.contains("model name mismatch"), "{e}");
    assert!(worker(&form(&[("model", MODEL)], Some(b"x")))
        .unwrap()
        .check_model("Qwen/Qwen3-8B@v1")
        .is_ok());
}

#[test]
fn oversize_bad_boundary_and_junk_are_refused() {
    let big = vec![0u8; MAX_REQUEST_BODY_BYTES + 1];
    let e = worker(&big).unwrap_err();
    assert_eq!((e.http_status, e.code), (413, "request_too_large"));

    let body = form(&[("model", MODEL)], Some(b"x"));
    for ct in [None, Some("application/json"), Some("multipart/form-data")] {
        let e = validate_worker_http(URL, ct, &body).unwrap_err();
        assert_eq!(
            (e.http_status, e.code),
            (400, "invalid_content_type"),
            "{ct:?}"
        );
    }
    // No space before `boundary=` is fine here (the reference's defect, §8.16); the client
    // forwards it spelled with the space, as the reference worker needs it.
    let tight = format!("multipart/form-data;boundary={BOUNDARY}");
    assert!(validate_worker_http(URL, Some(&tight), &body).is_ok());
    let p = prepare(URL, vec![("Content-Type".to_string(), tight)], &body).unwrap();
    assert_eq!(p.headers, [("Content-Type".to_string(), content_type())]);
    let quoted = "multipart/form-data; boundary=\"a b:c\"";
    let spaced = String::from_utf8(body.clone())
        .unwrap()
        .replace(BOUNDARY, "a b:c");
    let v = validate_worker_http(URL, Some(quoted), spaced.as_bytes()).unwrap();
    assert_eq!(v.content_type, quoted);

    let e = worker(b"not a form at all").unwrap_err();
    assert_eq!((e.http_status, e.code), (400, "invalid_multipart"), "{e}");
    let cut = &body[..body.len() - 10];
    assert!(worker(cut).is_err(), "a truncated form is refused");
}

#[test]
fn the_client_takes_out_its_control_fields_and_injects_max_tokens() {
    let headers = vec![("content-type".to_string(), content_type())];
    let body = form(
        &[
            ("model", MODEL),
            ("max_coefficient", "1500"),
            ("timeout", "30.5"),
            ("enable_debug", "1"),
            ("request_guid", "g-1"),
        ],
        Some(b"audio"),
    );
    let p = prepare(URL, headers.clone(), &body).expect("prepared");
    assert_eq!(p.model, MODEL);
    assert_eq!((p.max_coefficient, p.max_tokens), (1500, 10_000));
    assert_eq!(p.timeout, 30.5);
    assert!(p.enable_debug);
    assert_eq!(p.request_guid.as_deref(), Some("g-1"));
    let out = Form::parse(Some(&content_type()), &p.body).unwrap();
    assert_eq!(names(&out), ["file", "max_tokens", "model"]);
    assert_eq!(&out.get("max_tokens").unwrap().data[..], b"10000");
    // What the client sends, the worker accepts.
    assert!(validate_worker_http(URL, Some(&content_type()), &p.body).is_ok());
    // Also at the client port's limit: the injected `max_tokens` must not push it over.
    let overhead = form(&[("model", MODEL)], Some(b"")).len();
    let file = vec![7u8; MAX_FORM_BODY_BYTES - overhead - 10];
    let full = form(&[("model", MODEL)], Some(&file));
    assert!(full.len() <= MAX_FORM_BODY_BYTES);
    let p = prepare(URL, headers.clone(), &full).expect("a form at the limit");
    assert!(p.body.len() > MAX_FORM_BODY_BYTES, "the client's additions");
    assert!(validate_worker_http(URL, Some(&content_type()), &p.body).is_ok());

    // The worker's schema is checked at the client: an unknown field is a 400 at once.
    let unknown = form(&[("model", MODEL), ("colour", "red")], Some(b"x"));
    let e = prepare(URL, headers.clone(), &unknown).unwrap_err();
    assert_eq!(e.status.as_u16(), 400);
    assert!(
        e.message.contains("unknown field 'colour'"),
        "{}",
        e.message
    );
    let bad = form(&[("model", MODEL), ("max_tokens", "-3")], Some(b"x"));
    assert_eq!(
        prepare(URL, headers, &bad).unwrap_err().status.as_u16(),
        400
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Untrusted bytes never panic the parser: any body, with or without a real form around it.
    #[test]
    fn junk_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..400) {
        let _ = worker(&junk);
        let mut body = form(&[("model", MODEL)], Some(&junk));
        body.truncate(cut.min(body.len()));
        let _ = worker(&body);
    }
}
