//! The proxy's listening ports. Each accepted TCP connection goes through the
//! PoW + RA-TLS gate in-process (`cocoon_tee::link::accept`, with the peer
//! policy of that port) — or, behind a reference router, through the router's
//! peer-info record ([`super::gate::admit_from_router`]) — then the
//! `tcp.connect` init as acceptor (`cocoon_net::establish`), then the client
//! or worker handler.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cocoon_net::{establish, Inbound, Session, SessionConfig};
use cocoon_tee::link::{accept, ServerLinkConfig};
use cocoon_tee::peer_info::RelayedPolicy;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use super::client_conn::serve_client;
use super::gate::{admit_from_router, ROUTER_RECORD_TIMEOUT};
use super::http::serve_proxy_http;
use super::registry::lock;
use super::worker_conn::serve_worker;
use super::{ProxySettings, ProxyShared};

/// How one RPC port admits peers.
#[derive(Debug, Clone)]
pub enum PortGate {
    /// In-process PoW + RA-TLS: our certificate, the PoW difficulty and the
    /// peer policy (e.g. `fake`/`tdx` for workers, `any` for clients).
    Attested(ServerLinkConfig),
    /// Plain TCP from a local reference router (`--behind-router`): the
    /// router's peer-info record names the peer, re-checked with this policy.
    BehindRouter(RelayedPolicy),
}

/// The gates of the two ports.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub workers: PortGate,
    pub clients: PortGate,
}

/// The sockets a proxy serves; `None` = that port is off.
#[derive(Debug, Default)]
pub struct ProxyListeners {
    pub workers: Option<TcpListener>,
    pub clients: Option<TcpListener>,
    pub stats: Option<TcpListener>,
}

/// A running proxy. Dropping it (or [`ProxyHandle::shutdown`]) stops the
/// listeners and every connection.
#[derive(Debug)]
pub struct ProxyHandle {
    pub shared: Arc<ProxyShared>,
    pub workers_addr: Option<SocketAddr>,
    pub clients_addr: Option<SocketAddr>,
    pub stats_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl ProxyHandle {
    /// Stops the proxy.
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared.flush_payments();
        if self.shared.money.is_some() {
            if let Err(e) = self.shared.commit_to_chain_now() {
                warn!(error = %e, "final save_state at shutdown failed");
            }
        }
    }

    /// Waits until every listener task has ended (they only end on shutdown
    /// or a fatal error).
    pub async fn wait(mut self) {
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[derive(Debug, Clone, Copy)]
enum PeerKind {
    Worker,
    Client,
}

/// Starts a proxy on the given sockets.
pub async fn start(
    settings: ProxySettings,
    gate: GateConfig,
    listeners: ProxyListeners,
) -> io::Result<ProxyHandle> {
    let shared = ProxyShared::open(settings).map_err(io::Error::other)?;
    let addr = |l: &Option<TcpListener>| l.as_ref().map(TcpListener::local_addr).transpose();
    let (workers_addr, clients_addr, stats_addr) = (
        addr(&listeners.workers)?,
        addr(&listeners.clients)?,
        addr(&listeners.stats)?,
    );
    let mut tasks = Vec::new();
    if let Some(l) = listeners.workers {
        info!(addr = ?workers_addr, "listening for workers");
        tasks.push(tokio::spawn(accept_loop(
            l,
            PeerKind::Worker,
            Arc::new(gate.workers),
            shared.clone(),
        )));
    }
    if let Some(l) = listeners.clients {
        info!(addr = ?clients_addr, "listening for clients");
        tasks.push(tokio::spawn(accept_loop(
            l,
            PeerKind::Client,
            Arc::new(gate.clients),
            shared.clone(),
        )));
    }
    if let Some(l) = listeners.stats {
        info!(addr = ?stats_addr, "stats on http://{}/stats", stats_addr.map(|a| a.to_string()).unwrap_or_default());
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = serve_proxy_http(l, shared).await {
                warn!(error = %e, "stats server stopped");
            }
        }));
    }
    if shared.money.is_some() {
        tasks.push(tokio::spawn(money_loop(shared.clone())));
    } else {
        tasks.push(tokio::spawn(flush_loop(shared.clone())));
    }
    Ok(ProxyHandle {
        shared,
        workers_addr,
        clients_addr,
        stats_addr,
        tasks,
    })
}

/// The money loop (with a ledger): one [`super::money::Money::tick`] per interval, on the
/// blocking pool since ledger calls are synchronous.
async fn money_loop(shared: Arc<ProxyShared>) {
    let Some(interval) = shared.money.as_ref().map(|m| m.tick_interval()) else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let shared = shared.clone();
        let step = tokio::task::spawn_blocking(move || {
            if let Some(money) = &shared.money {
                money.tick(&shared.payments);
            }
        });
        if let Err(e) = step.await {
            warn!(error = %e, "money loop step panicked");
        }
    }
}

/// Without a ledger: commits the counters the throttled settles left (see
/// `ProxyPayments::throttle_flushes`).
async fn flush_loop(shared: Arc<ProxyShared>) {
    let every = lock(&shared.payments).flush_throttle();
    if every.is_zero() {
        return;
    }
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let shared = shared.clone();
        // Books writes fsync: keep them off the async threads.
        let step = tokio::task::spawn_blocking(move || lock(&shared.payments).flush_if_due());
        if let Err(e) = step.await {
            warn!(error = %e, "flush step panicked");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: PeerKind,
    link: Arc<PortGate>,
    shared: Arc<ProxyShared>,
) {
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    conns.spawn(handle_connection(tcp, addr, kind, link.clone(), shared.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle_connection(
    mut tcp: TcpStream,
    addr: SocketAddr,
    kind: PeerKind,
    gate: Arc<PortGate>,
    shared: Arc<ProxyShared>,
) {
    let _ = tcp.set_nodelay(true);
    let established = match &*gate {
        PortGate::Attested(link) => match accept(tcp, link).await {
            Ok((tls, peer)) => establish_as(tls, kind, &addr.to_string())
                .await
                .map(|(s, i)| (s, i, peer)),
            Err(e) => {
                debug!(%addr, kind = ?kind, error = %e, "attested link refused");
                return;
            }
        },
        PortGate::BehindRouter(policy) => {
            match admit_from_router(&mut tcp, policy, ROUTER_RECORD_TIMEOUT).await {
                // Name the peer by the address the router saw, not the router's.
                Ok((peer, source)) => establish_as(tcp, kind, &source.to_string())
                    .await
                    .map(|(s, i)| (s, i, peer)),
                Err(e) => {
                    warn!(%addr, kind = ?kind, error = %e, "peer refused behind the router; connection closed");
                    return;
                }
            }
        }
    };
    let Some((session, inbound, peer)) = established else {
        return;
    };
    match kind {
        PeerKind::Worker => serve_worker(shared, session, inbound, peer).await,
        PeerKind::Client => serve_client(shared, session, inbound, peer).await,
    }
}

async fn establish_as<S>(io: S, kind: PeerKind, peer_addr: &str) -> Option<(Session, Inbound)>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let label = match kind {
        PeerKind::Worker => format!("worker {peer_addr}"),
        PeerKind::Client => format!("client {peer_addr}"),
    };
    match establish(io, SessionConfig::acceptor().with_label(label)).await {
        Ok(ok) => Some(ok),
        Err(e) => {
            debug!(addr = %peer_addr, kind = ?kind, error = %e, "session init failed");
            None
        }
    }
}
