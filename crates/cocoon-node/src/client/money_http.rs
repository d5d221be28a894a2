//! The client's money on its HTTP port and in the background: the money loop
//! ([`run_money_loop`], every 1–2 s; it first asks each proxy that owes us a newer voucher
//! for it with `client.updatePaymentStatus`), the manual controls
//! `/request/charge|topup|close|withdraw?proxy=<proxy contract or address>`, and the
//! money fields of `/jsonstats` (runners.md §9: `status.wallet_balance`, `wallet`,
//! `proxies[]`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cocoon_wire::schema::{enums, functions};
use rand::Rng;
use serde_json::{json, Value};

use super::ClientState;

/// Runs [`super::money::ClientMoney::tick`] forever, every `interval` plus up to as much again.
pub(crate) async fn run_money_loop(state: Arc<ClientState>) {
    let Some(money) = state.money.clone() else {
        return;
    };
    loop {
        let base = money.interval();
        let extra = base.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
        tokio::time::sleep(base + extra).await;
        refresh_payment_status(&state).await;
        let (m, st) = (money.clone(), state.clone());
        if let Err(e) = tokio::task::spawn_blocking(move || m.tick(&st.payments)).await {
            tracing::warn!(error = %e, "client money loop round failed");
        }
    }
}

/// Deadline of `client.updatePaymentStatus`.
const PAYMENT_STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks every ready proxy whose count for us is above the voucher we keep for its latest
/// payment status (voucher and counters), as the reference's periodic reconciliation.
async fn refresh_payment_status(state: &ClientState) {
    for proxy in state.ready_proxies() {
        let behind = state
            .payments
            .view(&proxy.address)
            .is_some_and(|v| v.max_tokens > v.voucher_tokens());
        if !behind {
            continue;
        }
        match proxy
            .session
            .call(
                &functions::client::UpdatePaymentStatus {},
                PAYMENT_STATUS_TIMEOUT,
            )
            .await
        {
            Ok(enums::client::PaymentStatus::PaymentStatus(p)) => {
                state
                    .payments
                    .offer(&proxy.address, &p.signed_payment, p.db_tokens, p.max_tokens)
            }
            Err(e) => {
                tracing::debug!(proxy = %proxy.address, error = %e, "client.updatePaymentStatus failed")
            }
        }
    }
}

/// The operations of `/request/<op>`.
pub(crate) const MONEY_OPS: [&str; 4] = ["charge", "topup", "close", "withdraw"];

/// `/request/<op>?proxy=…`.
pub(crate) async fn money_request(
    state: Arc<ClientState>,
    op: &str,
    query: Option<&str>,
) -> Response {
    let Some(money) = state.money.clone() else {
        return (
            StatusCode::BAD_REQUEST,
            "no ledger: this client runs without payments (start it with --devnet-ledger)\n",
        )
            .into_response();
    };
    let proxy = query.and_then(|q| super::debug::query_param(q, "proxy"));
    let Some(proxy) = proxy else {
        return (
            StatusCode::BAD_REQUEST,
            "missing 'proxy' (a proxy contract address or proxy address)\n",
        )
            .into_response();
    };
    let op = op.to_owned();
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || money.manual(&op, &proxy, &st.payments)).await;
    match result {
        Ok(Ok(message)) => (StatusCode::OK, format!("{message}\n")).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// `(status.wallet_balance, wallet, proxies)` of `/jsonstats`.
pub(crate) fn money_json(state: &ClientState) -> (Value, Value, Value) {
    let (balance, wallet) = match &state.money {
        Some(m) => m.wallet_json(),
        None => (Value::Null, Value::Null),
    };
    let proxies: Vec<Value> = state
        .payments
        .views()
        .into_iter()
        .map(|(address, view)| {
            let mut entry = json!({
                "address": address,
                "proxy_sc_address": view.proxy_sc_address,
                "proxy_public_key": hex::encode(view.proxy_public_key),
                "sc_address": view.our_sc.as_ref().map(|a| a.to_hex()),
                "tokens_used_proxy_committed_to_blockchain": view.voucher_tokens(),
                "tokens_used_proxy_committed_to_db": view.db_tokens,
                "tokens_used_proxy_max": view.max_tokens,
            });
            let chain = state.money.as_ref().and_then(|m| m.contract_json(&address));
            if let (Some(Value::Object(chain)), Some(obj)) = (chain, entry.as_object_mut()) {
                obj.extend(chain);
            }
            entry
        })
        .collect();
    (balance, wallet, Value::Array(proxies))
}
