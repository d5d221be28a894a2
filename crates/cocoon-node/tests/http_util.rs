//! HTTP helpers: status mapping, CORS preflight, OpenAI-shaped error responses.

use axum::body::to_bytes;
use axum::response::IntoResponse;
use cocoon_node::http_util::{http_status_for_ton_code, preflight_response, ton_error_response};
use cocoon_node::validate::validate_worker_request;

#[test]
fn ton_codes_map_like_the_reference_client() {
    assert_eq!(http_status_for_ton_code(652), 504);
    assert_eq!(http_status_for_ton_code(651), 502);
    assert_eq!(http_status_for_ton_code(653), 502);
    assert_eq!(http_status_for_ton_code(621), 400);
    assert_eq!(http_status_for_ton_code(602), 500);
    assert_eq!(http_status_for_ton_code(0), 500);
}

#[test]
fn preflight_has_cors_headers() {
    let r = preflight_response();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers()["access-control-allow-methods"],
        "GET, POST, OPTIONS"
    );
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "Content-Type, Authorization"
    );
}

#[tokio::test]
async fn request_error_becomes_an_openai_error_response() {
    let err = validate_worker_request("/v1/chat/completions", b"[]").unwrap_err();
    let r = err.clone().into_response();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let body = to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, err.to_openai_json());

    let r = ton_error_response(652, "worker: timeout");
    assert_eq!(r.status(), 504);
    let body = to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["message"], "worker: timeout");
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(v["error"]["code"], 652);
}
