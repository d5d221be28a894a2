//! The worker role: dials its proxies, serves their requests with an
//! OpenAI-compatible inference engine, and streams the answers back.
//!
//! Layout: [`proxy_conn`] (dial, handshake runners.md §3.3, the per-proxy
//! message loop, reconnect), [`request`] (one `proxy.runQueryEx`: validation,
//! the engine call, part-by-part streaming, metering), [`health`] (the
//! engine's `GET /v1/models` loop), [`http`] (stats and admin endpoints),
//! [`payout`] (with a ledger: our worker contracts and the payout loop).
//!
//! Deviations from the reference, on purpose: SSE answers are metered and
//! streamed as they arrive (§13.3), hop-by-hop headers are filtered
//! case-insensitively (§13.6), and when a proxy connection drops every engine
//! request it carried is aborted (cancellation, §13.11).
//!
//! Extension: a `cocoonrs.cancelRequest` from the proxy aborts the request it
//! names (engine call dropped, slot freed, counted in `requests_cancelled`);
//! see `proxy_conn` and docs/protocol-extensions.md.

pub mod answer_parts;
pub mod change_model;
pub mod e2e;
pub mod engine_link;
pub mod health;
pub mod http;
pub mod payout;
pub mod proxy_conn;
pub mod request;
mod settings;
mod state;

pub use change_model::ModelChange;
pub use engine_link::EngineLink;
pub use settings::{PayoutPolicy, WorkerSettings};
pub use state::{WorkerState, WorkerStatsSnapshot};

use std::sync::Arc;

use crate::common::dial::DialConfig;
use crate::common::ports::NodePorts;

/// Lowest protocol version this worker speaks (December reference: 1, April: 3).
pub const WORKER_MIN_PROTO: i32 = crate::common::proto::WORKER_VERSIONS.min;
/// Highest protocol version this worker speaks.
pub const WORKER_MAX_PROTO: i32 = crate::common::proto::WORKER_VERSIONS.max;

/// Fatal worker errors (anything per-connection is retried instead).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("worker configuration: {0}")]
    Config(String),
}

/// Runs a worker until the process ends: health loop, the stats and admin ports that are on
/// in `ports`, and one task per proxy target.
pub async fn run_worker(
    settings: WorkerSettings,
    dial: DialConfig,
    ports: NodePorts,
) -> Result<(), WorkerError> {
    run_worker_with_engine(settings, dial, ports, None).await
}

/// [`run_worker`], with the engine in this process when `in_process_engine` is given (an
/// OpenAI-compatible router, called without a socket; `forward_requests_to` is then unused).
pub async fn run_worker_with_engine(
    settings: WorkerSettings,
    dial: DialConfig,
    ports: NodePorts,
    in_process_engine: Option<axum::Router>,
) -> Result<(), WorkerError> {
    if settings.proxy_addresses.is_empty() {
        return Err(WorkerError::Config(
            "the root config registers no proxy".into(),
        ));
    }
    let mut state = WorkerState::new(settings).map_err(WorkerError::Config)?;
    if let Some(router) = in_process_engine {
        state.engine = engine_link::EngineLink::InProcess(router);
        state.engine_base = state.engine.describe();
    }
    let state = Arc::new(state);
    tracing::info!(
        model = %state.settings.model_name,
        engine = %state.engine_base,
        tee = ?dial.tee,
        proxy_policy = %dial.policy_name,
        "worker starting"
    );

    // Know the engine's health before the first handshake announces it.
    health::check_once(&state).await;
    tokio::spawn(health::run_health_loop(state.clone()));
    if state.money.is_some() {
        tokio::spawn(payout::run_payout_loop(state.clone()));
    }

    let mut tasks = tokio::task::JoinSet::new();
    ports.spawn(
        &mut tasks,
        http::stats_router(state.clone()),
        http::admin_routes(state.clone()),
        ["worker stats", "worker admin"],
    );
    let dial = Arc::new(dial);
    let targets: Vec<String> = state.settings.proxy_targets();
    for address in targets {
        tasks.spawn(proxy_conn::run_proxy_target(
            state.clone(),
            dial.clone(),
            address,
        ));
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Seconds since the UNIX epoch as a double (the reference's time fields).
pub(crate) use crate::common::proto::now_unix as unix_now;

/// Hop-by-hop and framing headers, never forwarded in either direction
/// (compared case-insensitively, unlike the reference, runners.md §13.6).
pub fn is_hop_by_hop_header(name: &str) -> bool {
    const NAMES: [&str; 10] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_is_case_insensitive() {
        assert!(is_hop_by_hop_header("Content-Length"));
        assert!(is_hop_by_hop_header("TRANSFER-ENCODING"));
        assert!(is_hop_by_hop_header("connection"));
        assert!(!is_hop_by_hop_header("Content-Type"));
        assert!(!is_hop_by_hop_header("X-Cocoon-Worker-Start"));
    }
}
