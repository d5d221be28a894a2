//! What the proxy shows on `/stats`, `/jsonstats` and `/metrics`: the
//! reference's `/jsonstats` keys where they apply (runners.md §9: `status`,
//! `stats`, `localconfig`, `workers`, `worker_connections`, `clients`),
//! plain totals instead of decayed arrays.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

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
                    "enabled": !st.disabled,
                })
            })
            .collect();
        let workers: Vec<Value> = acc
            .workers
            .iter()
            .map(|(owner, e)| json!({"owner_address": owner, "earned_tokens": e.tokens.total, "requests": e.requests}))
            .collect();
        let clients: Vec<Value> = acc
            .clients
            .iter()
            .map(|(owner, e)| {
                json!({"owner_address": owner, "used_tokens": e.tokens.total, "requests": e.requests,
                       "running_queries": e.running})
            })
            .collect();
        json!({
            "status": {
                "enabled": true,
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
                "total_adjusted_tokens_used": acc.all.total,
                "prompt_adjusted_tokens_used": acc.all.prompt,
                "cached_adjusted_tokens_used": acc.all.cached,
                "completion_adjusted_tokens_used": acc.all.completion,
                "reasoning_adjusted_tokens_used": acc.all.reasoning,
            },
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

/// Per-owner payment counters (devnet: committed on chain at every flush).
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
        "network": "devnet",
        "signs_vouchers": payments.signs_vouchers(),
        "proxy_sc_address": payments.proxy_sc_address(),
        "clients": list(Side::Client),
        "workers": list(Side::Worker),
    })
}
