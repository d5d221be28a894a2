//! What the proxy shows on `/stats`, `/jsonstats` and `/metrics`: the
//! reference's `/jsonstats` keys where they apply (runners.md §9: `status`,
//! `stats`, `localconfig`, `workers`, `worker_connections`, `clients`),
//! plain totals instead of decayed arrays, and `key_manager` (the known request keys,
//! public parts and expiry only, and the key-manager client's counters).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::ContractStatus;
use serde_json::{json, Value};

use super::money::MoneyView;
use super::registry::lock;
use super::{ProxyShared, Side};
use crate::common::stats::{Metric, StatsSource};

/// The proxy's [`StatsSource`].
#[derive(Debug)]
pub struct ProxyStats {
    shared: Arc<ProxyShared>,
}

impl ProxyStats {
    pub fn new(shared: Arc<ProxyShared>) -> Self {
        ProxyStats { shared }
    }
}

impl StatsSource for ProxyStats {
    fn title(&self) -> String {
        "cocoon proxy".into()
    }

    fn json_stats(&self) -> Value {
        let s = &self.shared;
        let c = &s.counters;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let acc = lock(&s.accounts);
        let connections: Vec<Value> = s
            .registry
            .snapshot()
            .into_iter()
            .flat_map(|(_, conns)| conns)
            .map(|conn| {
                let st = conn.state();
                json!({
                    "connection_id": conn.id,
                    "owner_address": conn.owner,
                    "model": conn.model,
                    "worker_hash": hex::encode(conn.image_hash),
                    "coefficient": st.coefficient,
                    "running_queries": st.running,
                    "max_running_queries": conn.max_active,
                    "queries": st.queries,
                    "queries_success": st.success,
                    "queries_failed": st.failed,
                    "average_query_time_10m": st.latency.average(),
                    "proto_version": conn.version,
                    "machine_description": conn.machine_description,
                    "enabled": !st.disabled,
                })
            })
            .collect();
        let all = acc.all;
        drop(acc);
        let money = s.money.as_ref().map(|m| m.view());
        let (workers, clients) = party_lists(s, money.as_ref());
        let wallet_balance = money.as_ref().and_then(|m| m.wallet_balance).map(nano);
        json!({
            "status": {
                "enabled": true,
                "wallet_balance": wallet_balance,
                "public_key": hex::encode(s.settings.public_key),
                "config_version": s.settings.config_version,
                "git_commit": env!("CARGO_PKG_VERSION"),
            },
            "stats": {
                "queries": n(&c.queries),
                "success": n(&c.success),
                "failed": n(&c.failed),
                "rejected": n(&c.rejected),
                "requests_cancelled": n(&c.cancelled),
                "worker_cancels_sent": n(&c.worker_cancels),
                "retried": n(&c.retried),
                "bytes_received": n(&c.bytes_received),
                "bytes_sent": n(&c.bytes_sent),
                "time": n(&c.time_us) as f64 / 1e6,
                "total_adjusted_tokens_used": all.total,
                "prompt_adjusted_tokens_used": all.prompt,
                "cached_adjusted_tokens_used": all.cached,
                "completion_adjusted_tokens_used": all.completion,
                "reasoning_adjusted_tokens_used": all.reasoning,
                "refused_balance": n(&c.refused_balance),
                "unbilled_tokens": n(&c.unbilled_tokens),
            },
            "wallet": {
                "address": s.settings.owner_address,
                "balance": wallet_balance,
            },
            "smartcontract": smartcontract_json(s, money.as_ref()),
            "localconfig": {
                "root_address": s.settings.root_address,
                "owner_address": s.settings.owner_address,
                "check_image_hashes": s.settings.check_worker_hashes,
                "is_test": s.settings.is_test,
            },
            "workers": workers,
            "worker_connections": connections,
            "clients": clients,
            "payments": payments_json(s),
            // The reference's "KNOWN PRIVATE KEYS" table: public keys and expiry only.
            "key_manager": s.keys.stats_json(),
        })
    }

    fn metrics(&self) -> Vec<Metric> {
        let s = &self.shared;
        let c = &s.counters;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
        let mut out = vec![
            Metric::counter(
                "cocoon_proxy_requests_total",
                "Client requests received",
                n(&c.queries),
            ),
            Metric::counter(
                "cocoon_proxy_requests_success_total",
                "Requests completed",
                n(&c.success),
            ),
            Metric::counter(
                "cocoon_proxy_requests_failed_total",
                "Requests failed after dispatch",
                n(&c.failed),
            ),
            Metric::counter(
                "cocoon_proxy_requests_rejected_total",
                "Requests rejected before dispatch",
                n(&c.rejected),
            ),
            Metric::counter(
                "cocoon_proxy_requests_cancelled_total",
                "Requests whose client went away or cancelled them",
                n(&c.cancelled),
            ),
            Metric::counter(
                "cocoon_proxy_worker_cancels_sent_total",
                "cocoonrs.cancelRequest messages sent to workers",
                n(&c.worker_cancels),
            ),
            Metric::counter(
                "cocoon_proxy_requests_retried_total",
                "Requests retried on another worker",
                n(&c.retried),
            ),
            Metric::counter(
                "cocoon_proxy_bytes_received_total",
                "Request bytes from clients",
                n(&c.bytes_received),
            ),
            Metric::counter(
                "cocoon_proxy_bytes_sent_total",
                "Answer bytes to clients",
                n(&c.bytes_sent),
            ),
            Metric::counter(
                "cocoon_proxy_client_connections_total",
                "Client connections accepted",
                n(&c.client_connections),
            ),
            Metric::counter(
                "cocoon_proxy_worker_connections_total",
                "Worker connections accepted",
                n(&c.worker_connections),
            ),
            Metric::counter(
                "cocoon_proxy_adjusted_tokens_total",
                "Adjusted tokens used",
                lock(&s.accounts).all.total as f64,
            ),
            Metric::gauge(
                "cocoon_proxy_km_keys",
                "Request-encryption keys known from the key manager",
                s.keys.len() as f64,
            ),
            Metric::counter(
                "cocoon_proxy_km_polls_ok_total",
                "Key-manager answers merged",
                n(&s.keys.polls_ok),
            ),
            Metric::counter(
                "cocoon_proxy_km_poll_failures_total",
                "Key-manager polls that failed (dial, refused link, query)",
                n(&s.keys.poll_failures),
            ),
        ];
        for (model, conns) in s.registry.snapshot() {
            let running: u32 = conns.iter().map(|c| c.state().running).sum();
            let enabled = conns.iter().filter(|c| !c.state().disabled).count();
            out.push(
                Metric::gauge(
                    "cocoon_proxy_worker_connections",
                    "Ready worker connections",
                    conns.len() as f64,
                )
                .with_label("model", &model),
            );
            out.push(
                Metric::gauge(
                    "cocoon_proxy_enabled_worker_connections",
                    "Enabled worker connections",
                    enabled as f64,
                )
                .with_label("model", &model),
            );
            out.push(
                Metric::gauge(
                    "cocoon_proxy_running_requests",
                    "Requests running on workers",
                    f64::from(running),
                )
                .with_label("model", &model),
            );
        }
        out
    }
}

/// nanoTON as a JSON number (saturating at `u64::MAX`).
fn nano(n: NanoTon) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `smartcontract{address, params_version, balance, ready_for_withdraw}` plus the stake,
/// the money it holds and the save_state seqnos (null fields without a ledger), and the old
/// contracts being closed (`old_contracts[{proxy_sc, step, close_at, clients_left,
/// workers_left}]`; `leaving`: this contract was left, a restart is pending).
fn smartcontract_json(s: &ProxyShared, money: Option<&MoneyView>) -> Value {
    let proxy = money.and_then(|m| m.proxy.as_ref());
    json!({
        "address": s.settings.proxy_sc_address,
        "params_version": s.money.as_ref().map(|m| m.params_version()),
        "status": proxy.map(|p| format!("{:?}", p.status)),
        "balance": proxy.map(|p| nano(p.funds)),
        "stake": proxy.map(|p| nano(p.stake)),

        "ready_for_withdraw": proxy.map(|p| nano(p.commission)),
        "save_state_sent_seqno": money.map(|m| m.sent_seqno),
        "save_state_confirmed_seqno": money.map(|m| m.confirmed_seqno),
        "charged": money.map(|m| json!({"count": m.charges.count, "tokens": m.charges.tokens, "nanoton": nano(m.charges.nanoton)})),
        "paid_to_workers": money.map(|m| json!({"count": m.payouts.count, "tokens": m.payouts.tokens, "nanoton": nano(m.payouts.nanoton)})),
        "withdrawn": money.map(|m| json!({"count": m.withdrawals.count, "nanoton": nano(m.withdrawals.nanoton)})),
        "last_error": money.and_then(|m| m.last_error.clone()),
        "old_contracts": money.map(|m| json!(m.old_contracts)),
        "leaving": money.map(|m| m.retired),
        "disabled": money.map(|m| m.disabled),
    })
}

/// The reference's `workers[]` and `clients[]` (runners.md §9), from the payment counters,
/// the money loop's chain view and the request stats.
fn party_lists(s: &ProxyShared, money: Option<&MoneyView>) -> (Vec<Value>, Vec<Value>) {
    let mut running_by_worker: std::collections::BTreeMap<String, u64> = Default::default();
    for (_, conns) in s.registry.snapshot() {
        for conn in conns {
            *running_by_worker.entry(conn.owner.clone()).or_default() +=
                u64::from(conn.state().running);
        }
    }
    let acc = lock(&s.accounts);
    let payments = lock(&s.payments);
    let prices = s.money.as_ref().map(|m| m.prices());
    let workers = payments
        .all_counters(Side::Worker)
        .into_iter()
        .map(|(owner, c)| {
            let paid = money
                .and_then(|m| m.workers.get(&owner).map(|w| w.tokens))
                .or_else(|| payments.worker_paid(&owner))
                .unwrap_or(0);
            json!({
                "owner_address": owner,
                "sc_address": payments.sc_address(Side::Worker, &owner),
                "earned_tokens": c.tokens_max,
                "committed_tokens": c.committed_to_blockchain,
                "paid_tokens": paid,
                "unpayed_tokens": c.tokens_max.saturating_sub(paid),
                // A payout is applied by the ledger call itself (devnet); nothing stays in flight.
                "paying_now": false,
                "running_queries": running_by_worker.get(&owner).copied().unwrap_or(0),
                "requests": acc.workers.get(&owner).map_or(0, |e| e.requests),
            })
        })
        .collect();
    let clients = payments
        .all_counters(Side::Client)
        .into_iter()
        .map(|(owner, c)| {
            let chain = payments.client_chain(&owner);
            let charged = chain.map_or(0, |ch| ch.view.sc_tokens_used);
            let status = chain.and_then(|ch| ch.status);
            let entry = acc.clients.get(&owner);
            json!({
                "owner_address": owner,
                "sc_address": payments.sc_address(Side::Client, &owner),
                "used_tokens": c.tokens_max,
                "committed_tokens": c.committed_to_blockchain,
                "charged_tokens": charged,
                "tokens_to_charge": c.committed_to_blockchain.saturating_sub(charged),
                "available_tokens": prices.and_then(|p| payments.tokens_available(&owner, &p))
                    .map(|a| i64::try_from(a).unwrap_or(if a < 0 { i64::MIN } else { i64::MAX })),
                "reserved_tokens": payments.reserved(&owner),
                "balance": chain.map(|ch| nano(ch.view.balance)),
                "stake": chain.map(|ch| nano(ch.view.stake)),
                "running_queries": entry.map_or(0, |e| e.running),
                "requests": entry.map_or(0, |e| e.requests),
                "closing": status == Some(ContractStatus::Closing),
                "closed": status == Some(ContractStatus::Closed),
            })
        })
        .collect();
    (workers, clients)
}

/// Per-owner payment counters.
fn payments_json(s: &ProxyShared) -> Value {
    let payments = lock(&s.payments);
    let list = |side: Side| -> Vec<Value> {
        payments
            .all_counters(side)
            .into_iter()
            .map(|(owner, c)| {
                json!({"owner_address": owner, "sc_address": payments.sc_address(side, &owner),
                       "tokens_max": c.tokens_max, "tokens_committed_to_db": c.committed_to_db,
                       "tokens_committed_to_blockchain": c.committed_to_blockchain})
            })
            .collect()
    };
    json!({
        // No ledger: the reference's fake-TON behaviour (commits count as on chain at once).
        "network": s.settings.ledger.as_ref().map_or("fake-ton", |l| l.network()),
        "signs_vouchers": payments.signs_vouchers(),
        "proxy_sc_address": payments.proxy_sc_address(),
        "clients": list(Side::Client),
        "workers": list(Side::Worker),
    })
}
