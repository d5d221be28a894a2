//! The client role: keeps connections to proxies and serves an
//! OpenAI-compatible HTTP API on localhost that sends requests through them.
//!
//! Layout: [`proxy_conn`] (dial, the client handshake of runners.md §3.2 with
//! protocol [1,4], answer routing by request id, reconnect), [`request`]
//! (preparing a request: COCOON extension fields, delta §4.2; sending it with
//! failover across proxies), [`http`] (the OpenAI API: `/v1/models`,
//! `/v1/chat/completions`, `/v1/completions`, CORS), [`stats_http`] (the stats
//! and admin ports: stats, debug log, money controls), [`error`]
//! (OpenAI-shaped errors), [`debug`] (`enable_debug` records merged into the
//! answer, and the `/request/debuglogentry` log), [`money`] (with a ledger:
//! our client contracts — deploy, stake, secret hash, top-up, force charge,
//! runners.md §6.4; its loop and HTTP controls are in `money_http`). [`ClientCore`] is
//! the client without HTTP, which the HTTP runner and the `cocoon-client` library share.
//!
//! Deviations from the reference, on purpose: the client has its own deadline
//! (the request's `timeout` + a margin; the reference has none, §4.2), proxy
//! failover before the first byte, streaming bodies as parts arrive, errors in
//! OpenAI's JSON shape with meaningful statuses, and the caller's
//! `Authorization`/`Cookie` headers are not forwarded to workers.
//!
//! Extension: a request whose HTTP caller goes away, or whose deadline
//! passes, is cancelled at the proxy with `cocoonrs.cancelRequest`
//! (docs/protocol-extensions.md).

pub mod debug;
pub mod error;
pub mod http;
pub mod money;
mod money_http;
pub mod proxy_conn;
pub mod request;
pub mod request_form;
mod settings;
mod state;
pub mod stats_http;

pub use settings::{ClientMoneyPolicy, ClientSettings};
pub use state::{ClientState, ClientStatsSnapshot};

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::common::dial::DialConfig;
use crate::common::ports::NodePorts;

/// Lowest protocol version this client speaks (delta §1.3).
pub const CLIENT_MIN_PROTO: i32 = crate::common::proto::CLIENT_VERSIONS.min;
/// Highest protocol version this client speaks.
pub const CLIENT_MAX_PROTO: i32 = crate::common::proto::CLIENT_VERSIONS.max;

/// Fatal client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client configuration: {0}")]
    Config(String),
    #[error("client HTTP server: {0}")]
    Http(String),
}

/// The client without its HTTP ports: the shared state, one task per proxy target (dial,
/// handshake, answer routing, reconnect) and, with a ledger, the money loop. The HTTP runner
/// ([`run_client`]) and the embeddable library (`cocoon-client`) both run on it. Dropping it
/// stops every task it started (the proxy links close).
pub struct ClientCore {
    /// The state requests are sent through ([`request::start`]).
    pub state: Arc<ClientState>,
    tasks: tokio::task::JoinSet<()>,
}

impl ClientCore {
    /// Starts the proxy links (and the money loop with a ledger) for `settings`, dialling with
    /// `dial`. Must be called inside a tokio runtime.
    pub fn start(settings: ClientSettings, dial: DialConfig) -> Result<Self, ClientError> {
        let targets = settings.proxy_targets();
        if targets.is_empty() {
            return Err(ClientError::Config(
                "the root config registers no proxy".into(),
            ));
        }
        let money = match &settings.ledger {
            Some(ledger) => Some(Arc::new(
                money::ClientMoney::new(
                    ledger.clone(),
                    &settings.owner_address,
                    &settings.secret_string,
                    settings.money.clone(),
                )
                .map_err(ClientError::Config)?,
            )),
            None => None,
        };
        let state = Arc::new(ClientState::new(settings, targets.clone(), money));
        tracing::info!(proxies = ?targets, tee = ?dial.tee, proxy_policy = %dial.policy_name,
            ledger = state.money.is_some(), "client starting");
        let mut tasks = tokio::task::JoinSet::new();
        if state.money.is_some() {
            tasks.spawn(money_http::run_money_loop(state.clone()));
        }
        let dial = Arc::new(dial);
        let spares = state.settings.proxy_spares();
        for index in 0..targets.len() {
            tasks.spawn(proxy_conn::run_proxy_target(
                state.clone(),
                dial.clone(),
                index,
                proxy_conn::slot_candidates(&targets, &spares, index),
            ));
        }
        Ok(ClientCore { state, tasks })
    }

    /// Stops the proxy links and the money loop now (as dropping does).
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Runs a client until the process ends: one task per proxy target, the OpenAI API on
/// `http_listener`, and the stats and admin ports that are on in `ports` (whose limits
/// every listener gets).
pub async fn run_client(
    settings: ClientSettings,
    dial: DialConfig,
    http_listener: TcpListener,
    ports: NodePorts,
) -> Result<(), ClientError> {
    let core = ClientCore::start(settings, dial)?;
    let state = core.state.clone();
    let mut others = tokio::task::JoinSet::new();
    let limits = ports.limits;
    ports.spawn(
        &mut others,
        stats_http::stats_router(state.clone()),
        stats_http::admin_routes(state.clone()),
        ["client stats", "client admin"],
    );
    let api = http::api_router(state);
    let served = crate::http_server::serve(http_listener, api, limits, "client api").await;
    others.abort_all();
    drop(core);
    served.map_err(|e| ClientError::Http(e.to_string()))
}

/// Seconds since the UNIX epoch as a double.
pub(crate) use crate::common::proto::now_unix as unix_now;
