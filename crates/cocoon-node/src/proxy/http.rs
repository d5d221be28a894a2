//! The proxy's HTTP port: the stats pages ([`crate::common::stats`]) and the money controls
//! of the reference (runners.md §6.5, §9): `/request/payout?worker=<owner>`,
//! `/request/charge?client=<owner>`, `/request/withdraw`, and `POST /request/disable` (leave
//! and close our contract; serve nobody until the root params change). Like the stats
//! pages they need `?access_hash=` when `http_access_hash` is set. Without a ledger they
//! answer 409.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::stats_view::ProxyStats;
use super::ProxyShared;
use crate::common::stats::stats_router;

type Params = Query<BTreeMap<String, String>>;

/// The stats endpoints plus the money controls.
pub fn proxy_http_router(shared: Arc<ProxyShared>) -> Router {
    let access_hash = Some(shared.settings.http_access_hash.clone());
    let stats = stats_router(Arc::new(ProxyStats::new(shared.clone())), access_hash);
    let controls = Router::new()
        .route("/request/payout", get(payout))
        .route("/request/charge", get(charge))
        .route("/request/withdraw", get(withdraw))
        .route("/request/disable", post(disable))
        .with_state(shared);
    stats.merge(controls)
}

/// Serves [`proxy_http_router`] on `listener`.
pub async fn serve_proxy_http(
    listener: tokio::net::TcpListener,
    shared: Arc<ProxyShared>,
) -> std::io::Result<()> {
    crate::http_util::serve_nodelay(listener, proxy_http_router(shared)).await
}

fn allowed(shared: &ProxyShared, q: &BTreeMap<String, String>) -> bool {
    let hash = &shared.settings.http_access_hash;
    hash.is_empty() || q.get("access_hash").is_some_and(|given| given == hash)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Runs a money step on the blocking pool after the access and ledger checks.
async fn control<T: serde::Serialize + Send + 'static>(
    shared: Arc<ProxyShared>,
    q: &BTreeMap<String, String>,
    step: impl FnOnce(&ProxyShared) -> Result<T, String> + Send + 'static,
) -> Response {
    if !allowed(&shared, q) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if shared.money.is_none() {
        return answer(
            StatusCode::CONFLICT,
            json!({"ok": false, "error": "this proxy runs without a ledger: no money moves"}),
        );
    }
    match tokio::task::spawn_blocking(move || step(&shared)).await {
        Ok(Ok(result)) => answer(StatusCode::OK, json!({"ok": true, "result": result})),
        Ok(Err(e)) => answer(StatusCode::BAD_REQUEST, json!({"ok": false, "error": e})),
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"ok": false, "error": e.to_string()}),
        ),
    }
}

fn settlement_json(s: Option<cocoon_ledger::ledger::VoucherSettlement>) -> serde_json::Value {
    match s {
        Some(s) => {
            json!({"tokens": s.tokens, "nanoton": u64::try_from(s.amount).unwrap_or(u64::MAX)})
        }
        None => json!({"tokens": 0, "nanoton": 0, "note": "nothing due"}),
    }
}

async fn payout(State(shared): State<Arc<ProxyShared>>, Query(q): Params) -> Response {
    if !allowed(&shared, &q) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Some(owner) = q.get("worker").cloned() else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error": "missing ?worker=<owner address>"}),
        );
    };
    control(shared, &q, move |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        money.pay_worker(&s.payments, &owner).map(settlement_json)
    })
    .await
}

async fn charge(State(shared): State<Arc<ProxyShared>>, Query(q): Params) -> Response {
    if !allowed(&shared, &q) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Some(owner) = q.get("client").cloned() else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error": "missing ?client=<owner address>"}),
        );
    };
    control(shared, &q, move |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        money
            .charge_client(&s.payments, &owner)
            .map(settlement_json)
    })
    .await
}

/// `POST /request/disable`: leave our contract now (the reference's `/request/disable`):
/// everything is committed, the contract is closed (clients refunded, workers paid) and the
/// proxy serves nobody until the root params change.
async fn disable(State(shared): State<Arc<ProxyShared>>, Query(q): Params) -> Response {
    control(shared, &q, |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        if money.disabled() {
            return Err("the proxy is already disabled".to_string());
        }
        money.retire(&s.payments, "operator request (/request/disable)")?;
        Ok(json!({"note": "contract left; the proxy restarts disabled and closes it"}))
    })
    .await
}

async fn withdraw(State(shared): State<Arc<ProxyShared>>, Query(q): Params) -> Response {
    control(shared, &q, |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        money
            .withdraw()
            .map(|n| json!({"nanoton": u64::try_from(n).unwrap_or(u64::MAX)}))
    })
    .await
}
