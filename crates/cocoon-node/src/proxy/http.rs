//! The proxy's HTTP ports: the stats pages ([`crate::common::stats`], which need
//! `?access_hash=` when `http_access_hash` is set) on the stats port, and on the admin port
//! ([`crate::common::admin`]: POST only, credential required) the money controls of the
//! reference (runners.md §6.5, §9): `/request/payout?worker=<owner>`,
//! `/request/charge?client=<owner>`, `/request/withdraw`, and `/request/disable` (leave and
//! close our contract; serve nobody until the root params change). Without a ledger they
//! answer 409.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::stats_view::ProxyStats;
use super::ProxyShared;
use crate::common::stats::stats_router;

type Params = Query<BTreeMap<String, String>>;

/// The stats pages.
pub fn proxy_stats_router(shared: Arc<ProxyShared>) -> Router {
    let access_hash = Some(shared.settings.http_access_hash.clone());
    stats_router(Arc::new(ProxyStats::new(shared)), access_hash)
}

/// The money controls (served behind [`crate::common::admin::admin_router`]).
pub fn proxy_admin_routes(shared: Arc<ProxyShared>) -> Router {
    Router::new()
        .route("/request/payout", post(payout))
        .route("/request/charge", post(charge))
        .route("/request/withdraw", post(withdraw))
        .route("/request/disable", post(disable))
        .with_state(shared)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Runs a money step on the blocking pool after the ledger check.
async fn control<T: serde::Serialize + Send + 'static>(
    shared: Arc<ProxyShared>,
    step: impl FnOnce(&ProxyShared) -> Result<T, String> + Send + 'static,
) -> Response {
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
    let Some(owner) = q.get("worker").cloned() else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error": "missing ?worker=<owner address>"}),
        );
    };
    control(shared, move |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        money.pay_worker(&s.payments, &owner).map(settlement_json)
    })
    .await
}

async fn charge(State(shared): State<Arc<ProxyShared>>, Query(q): Params) -> Response {
    let Some(owner) = q.get("client").cloned() else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error": "missing ?client=<owner address>"}),
        );
    };
    control(shared, move |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        money
            .charge_client(&s.payments, &owner)
            .map(settlement_json)
    })
    .await
}

/// `/request/disable`: leave our contract now (the reference's `/request/disable`):
/// everything is committed, the contract is closed (clients refunded, workers paid) and the
/// proxy serves nobody until the root params change.
async fn disable(State(shared): State<Arc<ProxyShared>>) -> Response {
    control(shared, |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        if money.disabled() {
            return Err("the proxy is already disabled".to_string());
        }
        money.retire(&s.payments, "operator request (/request/disable)")?;
        Ok(json!({"note": "contract left; the proxy restarts disabled and closes it"}))
    })
    .await
}

async fn withdraw(State(shared): State<Arc<ProxyShared>>) -> Response {
    control(shared, |s| {
        let money = s.money.as_ref().ok_or("no ledger")?;
        money
            .withdraw()
            .map(|n| json!({"nanoton": u64::try_from(n).unwrap_or(u64::MAX)}))
    })
    .await
}
