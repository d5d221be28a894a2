//! The proxy's HTTP ports: the stats pages ([`crate::common::stats`], which need
//! `?access_hash=` when `http_access_hash` is set) on the stats port, and on the admin port
//! ([`crate::common::admin`]: POST only, credential required) the money controls of the
//! reference (runners.md §6.5, §9): `/request/payout?worker=<owner>`,
//! `/request/charge?client=<owner>`, `/request/withdraw`, and `/request/disable` (leave and
//! close our contract; serve nobody until the root params change). Without a ledger they
//! answer 409. `/request/change_worker_model` (April 2026) asks one worker connection to
//! change its model (`connection_id`, `new_model_name`, in the query or as a form body).

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
        .route("/request/change_worker_model", post(change_worker_model))
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

/// How long a worker may take to answer `worker.changeModel` (its script runs meanwhile).
const CHANGE_MODEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `/request/change_worker_model`: `connection_id=<id>&new_model_name=<model>` (query or
/// `x-www-form-urlencoded` body, as the reference's form sends it). The connection must be
/// a ready worker; `worker.changeModel` is sent and the worker's answer reported (the
/// reference answers "request sent" and drops it). 504 when the worker does not answer in
/// time — its script may still be running.
async fn change_worker_model(
    State(shared): State<Arc<ProxyShared>>,
    Query(mut q): Params,
    body: axum::body::Bytes,
) -> Response {
    let bad = |e: String| answer(StatusCode::BAD_REQUEST, json!({"ok": false, "error": e}));
    if !body.is_empty() {
        match serde_urlencoded::from_bytes::<BTreeMap<String, String>>(&body) {
            Ok(form) => q.extend(form),
            Err(e) => return bad(format!("body is not a urlencoded form: {e}")),
        }
    }
    let Some(id) = q
        .get("connection_id")
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return bad(
            "missing or invalid connection_id (a worker connection id from /jsonstats)".into(),
        );
    };
    let Some(model) = q.get("new_model_name").filter(|m| !m.is_empty()).cloned() else {
        return bad("missing new_model_name".into());
    };
    let conn = shared
        .registry
        .snapshot()
        .into_iter()
        .flat_map(|(_, conns)| conns)
        .find(|c| c.id == id);
    let Some(conn) = conn else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": format!("no ready worker connection {id}")}),
        );
    };
    tracing::info!(worker_conn = id, model = %model, "asking the worker to change its model");
    let query = cocoon_wire::schema::functions::worker::ChangeModel {
        new_model: model.clone(),
    };
    match conn.session.call(&query, CHANGE_MODEL_TIMEOUT).await {
        Ok(_) => answer(
            StatusCode::OK,
            json!({"ok": true, "result": {"connection_id": id, "model": model, "note": "the worker's script succeeded; its announced model changes when it reconnects"}}),
        ),
        Err(cocoon_net::QueryError::Timeout) => answer(
            StatusCode::GATEWAY_TIMEOUT,
            json!({"ok": false, "error": "the worker did not answer in 60 s (its script may still be running)"}),
        ),
        Err(e) => answer(
            StatusCode::BAD_GATEWAY,
            json!({"ok": false, "error": format!("the worker refused: {e}")}),
        ),
    }
}
