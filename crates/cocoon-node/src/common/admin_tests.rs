use super::*;

fn request(uri: &str, authorization: Option<&str>) -> Request {
    let mut builder = Request::builder().method("POST").uri(uri);
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body(axum::body::Body::empty()).expect("request")
}

#[test]
fn the_credential_is_a_bearer_token_or_the_access_hash_parameter() {
    assert_eq!(
        credential(&request("/request/disable", Some("Bearer abc"))).as_deref(),
        Some("abc")
    );
    assert_eq!(
        credential(&request("/x", Some("bearer  abc "))).as_deref(),
        Some("abc")
    );
    assert_eq!(
        credential(&request("/x?a=1&access_hash=s%2Fe+t", None)).as_deref(),
        Some("s/e t")
    );
    // The header wins over the query string.
    assert_eq!(
        credential(&request("/x?access_hash=q", Some("Bearer h"))).as_deref(),
        Some("h")
    );
    assert_eq!(credential(&request("/x", Some("Basic abc"))), None);
    assert_eq!(credential(&request("/x?other=1", None)), None);
}

#[test]
fn percent_decoding_keeps_what_is_not_an_escape() {
    assert_eq!(percent_decode("a%41b"), "aAb");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%+1"), "% 1");
    assert_eq!(percent_decode("%zz"), "%zz");
    assert_eq!(percent_decode("%é"), "%é");
}

#[test]
fn cors_headers_are_stripped() {
    let mut headers = HeaderMap::new();
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET"),
    );
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    strip_cors(&mut headers);
    assert_eq!(headers.len(), 1);
    assert!(headers.contains_key(header::CONTENT_TYPE));
}

#[test]
fn refusals_say_what_is_missing() {
    let token = AdminToken::new("right").expect("token");
    let missing = refusal(&token, &request("/x", None)).expect("refused");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let wrong = refusal(&token, &request("/x", Some("Bearer wrong"))).expect("refused");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(refusal(&token, &request("/x", Some("Bearer right"))).is_none());
    assert!(refusal(&token, &request("/x?access_hash=right", None)).is_none());
}
