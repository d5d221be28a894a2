//! Errors of the client's HTTP API in OpenAI's JSON shape
//! (`{"error":{"message","type","param","code"}}`) with meaningful statuses:
//! 400 invalid request, 404 unknown model, 413 body too large, 429 over
//! capacity or beyond the client's balance (`insufficient_quota`), 503 no
//! proxy / no workers, 502 upstream failure, 504 timeout.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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
        if has("client balance is too low") {
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

    /// The OpenAI error object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code,
        }})
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
