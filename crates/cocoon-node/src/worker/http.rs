//! The worker's HTTP ports: the read-only stats port (`/stats`, `/jsonstats`, `/metrics`) and
//! the admin port ([`crate::common::admin`]: POST only, credential required) with the
//! operator controls of the reference (runners.md §9): `/request/enable`,
//! `/request/disable`, `/request/change_coefficient?coefficient=<float>` (without
//! `coefficient`: shows the current one), and with a ledger
//! `/request/payout?proxy=<proxy contract or address>`.
//!
//! `/jsonstats` `proxies[]` has one entry per proxy we know: the live connection (when
//! connected) and the money fields of the reference (`sc_inited`, `proxy_sc_address`,
//! `proxy_public_key`, `sc_address`, `earned_tokens_committed_to_blockchain`,
//! `…_to_proxy_db`, `…_max_known`, `paid`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::WorkerState;

/// The read-only stats pages.
pub fn stats_router(state: Arc<WorkerState>) -> Router {
    Router::new()
        .route("/jsonstats", get(json_stats))
        .route("/stats", get(html_stats))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// The operator controls (served behind [`crate::common::admin::admin_router`]).
pub fn admin_routes(state: Arc<WorkerState>) -> Router {
    Router::new()
        .route("/request/enable", post(enable))
        .route("/request/disable", post(disable))
        .route("/request/change_coefficient", post(change_coefficient))
        .route("/request/payout", post(payout))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

async fn json_stats(State(state): State<Arc<WorkerState>>) -> Response {
    let s = state.snapshot();
    let (wallet_balance, wallet) = match &state.money {
        Some(m) => m.wallet_json(),
        None => (serde_json::Value::Null, serde_json::Value::Null),
    };
    let proxies = proxies_json(&state, &s);
    let body = serde_json::json!({
        "status": {"enabled": s.enabled, "engine_healthy": s.engine_healthy, "actual_model": s.model,
                   "wallet_balance": wallet_balance},
        "wallet": wallet,
        "stats": {
            "queries": s.queries, "success": s.success, "failed": s.failed, "rejected": s.rejected,
            "requests_cancelled": s.cancelled, "active_requests": s.active_requests,
            "max_active_requests": s.max_active_requests,
            "bytes_received": s.bytes_received, "bytes_sent": s.bytes_sent,
            "prompt_adjusted_tokens_used": s.prompt_adjusted_tokens_used,
            "cached_adjusted_tokens_used": s.cached_adjusted_tokens_used,
            "completion_adjusted_tokens_used": s.completion_adjusted_tokens_used,
            "reasoning_adjusted_tokens_used": s.reasoning_adjusted_tokens_used,
            "total_adjusted_tokens_used": s.total_adjusted_tokens_used,
        },
        "localconfig": {
            "owner_address": state.settings.owner_address,
            "model": s.model,
            "coefficient": s.coefficient,
            "forward_requests_to": state.engine_base,
        },
        "proxies": proxies,
        "payments": state.payments.to_json(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `proxies[]`: every proxy we know, live connection fields (if connected) and money fields.
fn proxies_json(state: &WorkerState, s: &super::WorkerStatsSnapshot) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut out: Vec<Value> = Vec::new();
    let views = state.payments.views();
    for (address, view) in &views {
        let mut entry = json!({
            "address": address,
            "connected": s.proxies.iter().any(|p| &p.address == address),
            "proxy_sc_address": view.proxy_sc_address,
            "proxy_public_key": hex::encode(view.proxy_public_key),
            "sc_inited": false,
            "sc_address": view.our_sc.as_ref().map(|a| a.to_hex()),
            "earned_tokens_committed_to_blockchain": view.voucher_tokens(),
            "earned_tokens_committed_to_proxy_db": view.db_tokens,
            "earned_tokens_max_known": view.max_tokens,
            "paid": 0,
        });
        let chain = state.money.as_ref().and_then(|m| m.contract_json(address));
        if let (Some(Value::Object(chain)), Some(obj)) = (chain, entry.as_object_mut()) {
            obj.extend(chain);
        }
        if let (Some(link), Some(obj)) = (
            s.proxies.iter().find(|p| &p.address == address),
            entry.as_object_mut(),
        ) {
            obj.insert("proto_version".into(), json!(link.proto_version));
            obj.insert("running_requests".into(), json!(link.running_requests));
        }
        out.push(entry);
    }
    // Connections whose handshake has not reached the payments step yet.
    for link in &s.proxies {
        if !views.iter().any(|(a, _)| a == &link.address) {
            out.push(json!({"address": link.address, "connected": true,
                "proto_version": link.proto_version, "running_requests": link.running_requests}));
        }
    }
    Value::Array(out)
}

async fn payout(
    State(state): State<Arc<WorkerState>>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let Some(money) = state.money.clone() else {
        return (
            StatusCode::BAD_REQUEST,
            "no ledger: this worker runs without payments (start it with --devnet-ledger)\n".into(),
        );
    };
    let Some(proxy) = q.get("proxy").cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            "missing 'proxy' (a proxy contract address or proxy address)\n".into(),
        );
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || money.payout_now(&proxy, &st.payments)).await {
        Ok(Ok(msg)) => (StatusCode::OK, format!("{msg}\n")),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

async fn html_stats(State(state): State<Arc<WorkerState>>) -> Response {
    let s = state.snapshot();
    let mut out = String::from("<html><head><title>cocoon worker</title></head><body><pre>\n");
    out.push_str(&format!(
        "model {}\nenabled {} (engine healthy {}, forced disabled {})\ncoefficient {}\n\
         active requests {}/{}\nqueries {} success {} failed {} rejected {} cancelled {}\n\
         adjusted tokens total {}\nproxies {}\n",
        html_escape(&s.model),
        s.enabled,
        s.engine_healthy,
        s.forced_disabled,
        s.coefficient,
        s.active_requests,
        s.max_active_requests,
        s.queries,
        s.success,
        s.failed,
        s.rejected,
        s.cancelled,
        s.total_adjusted_tokens_used,
        s.proxies.len()
    ));
    for p in &s.proxies {
        out.push_str(&format!(
            "  proxy {} proto {} running {}\n",
            html_escape(&p.address),
            p.proto_version,
            p.running_requests
        ));
    }
    out.push_str("</pre></body></html>\n");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], out).into_response()
}

async fn metrics(State(state): State<Arc<WorkerState>>) -> Response {
    let s = state.snapshot();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, v: u64| {
        out.push_str(&format!(
            "# TYPE cocoon_worker_{name} {kind}\ncocoon_worker_{name} {v}\n"
        ));
    };
    metric("enabled", "gauge", u64::from(s.enabled));
    metric("active_requests", "gauge", s.active_requests as u64);
    metric("queries_total", "counter", s.queries);
    metric("success_total", "counter", s.success);
    metric("failed_total", "counter", s.failed);
    metric("rejected_total", "counter", s.rejected);
    metric("requests_cancelled_total", "counter", s.cancelled);
    metric("bytes_sent_total", "counter", s.bytes_sent);
    metric(
        "adjusted_tokens_total",
        "counter",
        s.total_adjusted_tokens_used,
    );
    metric("proxy_connections", "gauge", s.proxies.len() as u64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn enable(State(state): State<Arc<WorkerState>>) -> &'static str {
    state.set_forced_disabled(false).await;
    "enabled\n"
}

async fn disable(State(state): State<Arc<WorkerState>>) -> &'static str {
    state.set_forced_disabled(true).await;
    "disabled\n"
}

async fn change_coefficient(
    State(state): State<Arc<WorkerState>>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let Some(raw) = q.get("coefficient") else {
        return (
            StatusCode::OK,
            format!("coefficient {}\n", f64::from(state.coefficient()) / 1000.0),
        );
    };
    match raw.trim().parse::<f64>() {
        // ×1000, truncated, as the reference (runners.md §5.3).
        Ok(v) if v.is_finite() && (0.0..1_000_000.0).contains(&v) => {
            let c = (v * 1000.0) as i32;
            state.set_coefficient(c).await;
            (StatusCode::OK, format!("coefficient set to {c}\n"))
        }
        _ => (
            StatusCode::BAD_REQUEST,
            format!("bad coefficient '{raw}': expected a number in [0, 1000000)\n"),
        ),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
