//! The client's ports beside its OpenAI API: the read-only stats port (`/stats`,
//! `/jsonstats`, `/metrics`, and `/request/debuglogentry?request_guid=` — the debug record
//! of a request sent with `enable_debug` and that `request_guid`, see [`super::debug`]) and,
//! with a ledger, the money controls `/request/charge|topup|close|withdraw?proxy=` on the
//! admin port ([`crate::common::admin`]: POST only, credential required; see `money_http`).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::debug;
use super::error::ApiError;
use super::money_http;
use super::ClientState;

/// The read-only pages.
pub fn stats_router(state: Arc<ClientState>) -> Router {
    Router::new()
        .route(
            "/jsonstats",
            get(|State(s): State<Arc<ClientState>>| async move { json_stats(&s) }),
        )
        .route(
            "/stats",
            get(|State(s): State<Arc<ClientState>>| async move { html_stats(&s) }),
        )
        .route(
            "/metrics",
            get(|State(s): State<Arc<ClientState>>| async move { metrics(&s) }),
        )
        .route(
            "/request/debuglogentry",
            get(
                |State(s): State<Arc<ClientState>>, req: Request| async move {
                    debug_log_entry(&s, req.uri().query())
                },
            ),
        )
        .with_state(state)
}

/// The money controls (served behind [`crate::common::admin::admin_router`]).
pub fn admin_routes(state: Arc<ClientState>) -> Router {
    Router::new()
        .route("/request/{op}", post(money_op))
        .with_state(state)
}

async fn money_op(
    State(state): State<Arc<ClientState>>,
    Path(op): Path<String>,
    req: Request,
) -> Response {
    if !money_http::MONEY_OPS.contains(&op.as_str()) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    money_http::money_request(state, &op, req.uri().query()).await
}

/// `GET /request/debuglogentry?request_guid=<guid>`: the stored debug record.
fn debug_log_entry(state: &ClientState, query: Option<&str>) -> Response {
    let guid = query.and_then(|q| debug::query_param(q, "request_guid"));
    let Some(guid) = guid else {
        return ApiError::invalid("missing_required_parameter", "missing 'request_guid'")
            .with_param("request_guid")
            .into_response();
    };
    match state.debug_log.get(&guid) {
        Some(record) => (
            [(header::CONTENT_TYPE, "application/json")],
            record.to_string(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "debug_log_entry_not_found",
            "no debug record for this request_guid (not sent with enable_debug, or evicted)",
        )
        .into_response(),
    }
}

fn json_stats(state: &ClientState) -> Response {
    let s = state.snapshot();
    let (wallet_balance, wallet, proxies) = money_http::money_json(state);
    let body = serde_json::json!({
        "status": {"enabled": true, "wallet_balance": wallet_balance},
        "wallet": wallet,
        "proxies": proxies,
        "stats": {"queries": s.queries, "success": s.success, "failed": s.failed, "rejected": s.rejected,
                  "failovers": s.failovers, "requests_cancelled": s.requests_cancelled,
                  "bytes_received": s.bytes_received, "bytes_sent": s.bytes_sent},
        "localconf": {"owner_address": state.settings.owner_address, "is_test": state.settings.is_test},
        "proxy_connections": s.proxy_connections,
        "payments": state.payments.to_json(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn html_stats(state: &ClientState) -> Response {
    let s = state.snapshot();
    let mut out = String::from("<html><head><title>cocoon client</title></head><body><pre>\n");
    out.push_str(&format!(
        "queries {} success {} failed {} rejected {} failovers {}\n",
        s.queries, s.success, s.failed, s.rejected, s.failovers
    ));
    for p in &s.proxy_connections {
        let addr = p.address.replace('<', "&lt;");
        out.push_str(&format!(
            "proxy {addr} ready {} proto {:?} pending {}\n",
            p.is_ready, p.proto_version, p.pending_requests
        ));
    }
    out.push_str("</pre></body></html>\n");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], out).into_response()
}

fn metrics(state: &ClientState) -> Response {
    let s = state.snapshot();
    let ready = s.proxy_connections.iter().filter(|p| p.is_ready).count();
    let mut out = String::new();
    for (name, kind, v) in [
        ("queries_total", "counter", s.queries),
        ("success_total", "counter", s.success),
        ("failed_total", "counter", s.failed),
        ("rejected_total", "counter", s.rejected),
        ("failovers_total", "counter", s.failovers),
        ("requests_cancelled_total", "counter", s.requests_cancelled),
        ("bytes_received_total", "counter", s.bytes_received),
        ("ready_proxies", "gauge", ready as u64),
    ] {
        out.push_str(&format!(
            "# TYPE cocoon_client_{name} {kind}\ncocoon_client_{name} {v}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
