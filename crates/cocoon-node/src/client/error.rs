//! Errors of the client's HTTP API in OpenAI's JSON shape
//! (`{"error":{"message","type","param","code"}}`) with meaningful statuses:
//! 400 invalid request, 404 unknown model, 413 body too large, 429 over
//! capacity or beyond the client's balance (`insufficient_quota`), 503 no
//! proxy / no workers, 502 upstream failure, 504 timeout, 500 (with the TON `error_code`, as the
//! reference client answers it, delta-2026-04.md §4.10) for an encrypted request the network
//! refused (`unknown public key …` from the proxy, the worker's end-to-end checks).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Refusals of an encrypted request by the proxy (`unknown public key <HEX>`, delta-2026-04.md
/// §3.4) or the worker's end-to-end checks (§2.6), all 602 on the wire.
/// (The worker's 621 `bad encryption method` stays a 400, as every 621.)
const E2E_REFUSALS: [&str; 5] = [
    "unknown public key",
    "not all encryption-related fields are present",
    "cannot find private key for an encrypted request",
    "encryption key is provided, but request is unencrypted",
    "public key mismatch",
];

/// An error answered to the HTTP caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI error `type`.
    pub kind: &'static str,
    /// OpenAI error `code`.
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// The TON error code behind the error, answered as a top-level `error_code` (the key the
    /// reference client's error bodies carry) where set.
    pub error_code: Option<i32>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            error_code: None,
        }
    }

    /// 400 invalid_request_error.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }

    /// 503: no proxy connection is ready.
    pub fn no_proxy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "no_proxy",
            "no working proxy connections",
        )
    }

    /// 503 `no_proxy`, saying why the proxy connections are down (each slot's last error).
    pub fn no_proxy_because(errors: &[String]) -> Self {
        let mut e = Self::no_proxy();
        if !errors.is_empty() {
            e.message = format!("{}: {}", e.message, errors.join("; "));
        }
        e
    }

    /// 504: our own deadline passed.
    pub fn timeout(seconds: f64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "timeout",
            format!("no complete answer within the request timeout ({seconds:.1} s)"),
        )
    }

    /// 502: the proxy link or the worker failed mid-way.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "upstream_error",
            message,
        )
    }

    /// 429 insufficient_quota (as OpenAI): the request's reservation is beyond the client
    /// contract's balance. `wire` is the proxy's refusal, `client balance is too low:
    /// to_reserve=R tokens_available=A` (the reference's wording); the message names both.
    pub fn insufficient_quota(wire: &str) -> Self {
        let number = |key: &str| {
            let rest = wire.split(key).nth(1)?;
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '-'))
                .unwrap_or(rest.len());
            rest[..end].parse::<i128>().ok()
        };
        let message = match (number("to_reserve="), number("tokens_available=")) {
            (Some(reserve), Some(available)) => format!(
                "the client's balance is too low for this request: it would reserve {reserve} tokens \
                 (max_tokens plus the prompt, at max_coefficient) and {available} tokens are available; \
                 lower max_tokens or top up the client contract"
            ),
            _ => format!(
                "the client's balance is too low for this request ({wire}); lower max_tokens or \
                 top up the client contract"
            ),
        };
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "insufficient_quota",
            message,
        )
        .with_param("max_tokens")
    }

    /// Maps an error from the network (TON error code + message) to a status.
    pub fn from_wire(code: i32, message: &str) -> Self {
        let m = message.to_string();
        let has = |s: &str| message.contains(s);
        if E2E_REFUSALS.iter().any(|s| has(s)) {
            // The reference client answers these 500 with the proxy's / worker's code (602);
            // not a gateway failure: the same request fails the same way on every retry.
            let mut e = Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid_request_error",
                "encryption_refused",
                m,
            );
            e.error_code = Some(code);
            e
        } else if has("client balance is too low") {
            Self::insufficient_quota(message)
        } else if has("unknown model") {
            Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                m,
            )
            .with_param("model")
        } else if has("too many active queries") {
            Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "over_capacity",
                m,
            )
        } else if has("coefficient") {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "max_coefficient_too_low",
                format!("{m} (no worker at or below your max_coefficient; raise it to use a pricier worker)"),
            )
        } else if has("no workers") || has("no ready workers") {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "no_workers",
                m,
            )
        } else if code == 652 {
            Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", "timeout", m)
        } else if code == 621 || has("invalid http request") {
            Self::invalid("invalid_request", m)
        } else if code == 651 {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "not_ready",
                m,
            )
        } else {
            Self::upstream(m)
        }
    }

    /// The OpenAI error object, plus the reference's top-level `error_code` where known.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code,
        }});
        if let Some(code) = self.error_code {
            v["error_code"] = code.into();
        }
        v
    }

    /// The error as one SSE event (for a stream that already started).
    pub fn to_sse_event(&self) -> String {
        format!("data: {}\n\n", self.to_json())
    }
}

/// A request the shared validation ([`crate::validate`]) refused: its status, type, code,
/// param and message as they are.
impl From<crate::validate::RequestError> for ApiError {
    fn from(e: crate::validate::RequestError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.http_status).unwrap_or(StatusCode::BAD_REQUEST),
            kind: e.error_type,
            code: e.code,
            message: e.message,
            param: e.param,
            error_code: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.to_json().to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from_wire(621, "unknown model foo").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from_wire(602, "too many active queries").status,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            ApiError::from_wire(651, "no workers for model m").status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from_wire(651, "can run this query with coefficient=2000").code,
            "max_coefficient_too_low"
        );
        assert_eq!(
            ApiError::from_wire(652, "worker: timeout").status,
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            ApiError::from_wire(621, "worker: invalid http request: x").status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from_wire(602, "worker: http failed: refused").status,
            StatusCode::BAD_GATEWAY
        );
    }

    #[test]
    fn encryption_refusals_are_500_with_the_ton_code_as_the_reference_client() {
        // delta-2026-04.md §4.10: everything but 652/651/621 is 500, with `error_code`.
        let e = ApiError::from_wire(
            602,
            "unknown public key FB67D0FCD338F20E0D4957D9E82ADC101D2E3513A448A3AB46052EE1B88C5818",
        );
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.error_code, Some(602));
        let v = e.to_json();
        assert_eq!(v["error_code"], 602);
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown public key FB67"));
        let worker = ApiError::from_wire(602, "worker: public key mismatch");
        assert_eq!(
            (worker.status, worker.error_code),
            (StatusCode::INTERNAL_SERVER_ERROR, Some(602))
        );
        // Other errors keep their statuses and carry no `error_code`.
        assert!(ApiError::from_wire(602, "worker: http failed: refused")
            .to_json()
            .get("error_code")
            .is_none());
    }

    #[test]
    fn balance_too_low_is_insufficient_quota_with_both_figures() {
        let e = ApiError::from_wire(
            500,
            "client balance is too low: to_reserve=40960 tokens_available=1234",
        );
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            (e.kind, e.code),
            ("insufficient_quota", "insufficient_quota")
        );
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        assert!(e.message.contains("reserve 40960 tokens"), "{}", e.message);
        assert!(
            e.message.contains("1234 tokens are available"),
            "{}",
            e.message
        );
        let negative = ApiError::from_wire(
            500,
            "client balance is too low: to_reserve=5 tokens_available=-7",
        );
        assert!(
            negative.message.contains("-7 tokens are available"),
            "{}",
            negative.message
        );
        let odd = ApiError::from_wire(500, "client balance is too low: to_reserve=");
        assert_eq!(odd.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(odd.message.contains("to_reserve="), "{}", odd.message);
    }

    #[test]
    fn json_shape_is_openai() {
        let v = ApiError::invalid("bad", "oops")
            .with_param("model")
            .to_json();
        assert_eq!(v["error"]["message"], "oops");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["code"], "bad");
    }
}
