//! HTTP helpers shared by the roles' HTTP servers: the TON-error → HTTP-status mapping, CORS
//! headers, the `OPTIONS` preflight answer and OpenAI-shaped error responses.
//!
//! Reference behaviour (runners.md §4.1, delta-2026-04.md §4.10, §5.1): static answers carry
//! `Access-Control-Allow-Origin: *`, `-Methods: GET, POST, OPTIONS`,
//! `-Headers: Content-Type, Authorization`; error codes map 652 → 504, 651/653 → 502,
//! 621 → 400, anything else → 500. Deviation: at April 2026 the reference answers `OPTIONS` with
//! 204 and *no* CORS headers (delta §8.18), which defeats browser preflight; [`preflight_response`]
//! answers 204 *with* them.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::validate::RequestError;

/// The CORS headers the reference puts on its answers.
pub const CORS_HEADERS: [(&str, &str); 3] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "GET, POST, OPTIONS"),
    (
        "access-control-allow-headers",
        "Content-Type, Authorization",
    ),
];

/// HTTP status for a TON error code, as the reference client maps it (delta §4.10): 652 (timeout)
/// → 504, 651 (not ready) and 653 (cancelled) → 502, 621 (protoviolation) → 400, else 500.
pub fn http_status_for_ton_code(code: i32) -> u16 {
    match code {
        652 => 504,
        651 | 653 => 502,
        621 => 400,
        _ => 500,
    }
}

/// Adds [`CORS_HEADERS`] to `headers`.
pub fn add_cors_headers(headers: &mut HeaderMap) {
    for (name, value) in CORS_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// The answer to an `OPTIONS` request: 204 with CORS headers.
pub fn preflight_response() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    add_cors_headers(response.headers_mut());
    response
}

/// A JSON response with CORS headers.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    add_cors_headers(response.headers_mut());
    response
}

/// An OpenAI-shaped error response for a TON error (e.g. one a worker or proxy sent back):
/// status from [`http_status_for_ton_code`], `type` `server_error` or `invalid_request_error`.
pub fn ton_error_response(code: i32, message: &str) -> Response {
    let status = http_status_for_ton_code(code);
    let error_type = if status == 400 {
        "invalid_request_error"
    } else {
        "server_error"
    };
    let body = serde_json::json!({
        "error": {
            "message": message,
            "type": error_type,
            "param": null,
            "code": code,
        }
    });
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &body,
    )
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, &self.to_openai_json())
    }
}
