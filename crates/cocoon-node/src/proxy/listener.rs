//! The proxy's listening ports: starting, serving and restarting them. Each
//! RPC port runs the accept loop of [`super::accept`] (admission caps, the
//! PoW + RA-TLS gate or the router's record, the `tcp.connect` init, then the
//! client or worker handler).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

use super::accept::{accept_loop, PeerKind};
use super::http::{proxy_admin_routes, proxy_stats_router};
use super::registry::lock;
use super::{ProxySettings, ProxyShared};
use crate::common::admin::{admin_router, AdminPort, AdminToken};
use crate::common::km_client::run_key_manager_client;
use crate::common::ports::serve_logged;
use crate::http_server::HttpLimits;

pub use crate::common::gate::PortGate;

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
    /// The read-only stats pages.
    pub stats: Option<TcpListener>,
    /// The money controls (`/request/*`, POST with the credential).
    pub admin: Option<AdminPort>,
    /// Limits of the stats and admin HTTP servers.
    pub http_limits: HttpLimits,
}

/// A running proxy. Dropping it (or [`ProxyHandle::shutdown`]) stops the
/// listeners and every connection.
///
/// When the money loop leaves its proxy contract (root `params_version` raised, or
/// `/request/disable` on the admin port), the proxy **restarts in-process**: every connection is
/// dropped (as the reference's `close_all` does), the shared state is opened again from the
/// books with the same settings (so on the ledger's new params: a new contract is deployed)
/// and the same sockets are served again. [`ProxyHandle::current`] is the state now served;
/// `shared` is the state of the first start.
#[derive(Debug)]
pub struct ProxyHandle {
    pub shared: Arc<ProxyShared>,
    pub workers_addr: Option<SocketAddr>,
    pub clients_addr: Option<SocketAddr>,
    pub stats_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    current: Arc<std::sync::Mutex<Arc<ProxyShared>>>,
    supervisor: Option<JoinHandle<()>>,
    /// The key-manager client (with `ProxySettings::key_manager`).
    key_manager: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The shared state now served (a new one after each restart).
    pub fn current(&self) -> Arc<ProxyShared> {
        lock(&self.current).clone()
    }

    /// Stops the proxy.
    pub fn shutdown(&self) {
        if let Some(t) = &self.supervisor {
            t.abort();
        }
        if let Some(t) = &self.key_manager {
            t.abort();
        }
        let shared = self.current();
        shared.flush_payments();
        if shared
            .money
            .as_ref()
            .is_some_and(|m| !m.restart_requested() && !m.disabled())
        {
            if let Err(e) = shared.commit_to_chain_now() {
                warn!(error = %e, "final save_state at shutdown failed");
            }
        }
    }

    /// Waits until every listener task has ended (they only end on shutdown
    /// or a fatal error).
    pub async fn wait(mut self) {
        if let Some(t) = self.supervisor.take() {
            let _ = t.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The proxy's sockets, kept so that a restart serves the same ones.
struct Sockets {
    workers: Option<std::net::TcpListener>,
    clients: Option<std::net::TcpListener>,
    stats: Option<std::net::TcpListener>,
    admin: Option<(std::net::TcpListener, AdminToken)>,
    http_limits: HttpLimits,
}

fn to_std(l: Option<TcpListener>) -> io::Result<Option<std::net::TcpListener>> {
    l.map(TcpListener::into_std).transpose()
}

fn from_std(l: &Option<std::net::TcpListener>) -> io::Result<Option<TcpListener>> {
    l.as_ref()
        .map(|l| TcpListener::from_std(l.try_clone()?))
        .transpose()
}

/// Starts a proxy on the given sockets.
pub async fn start(
    settings: ProxySettings,
    gate: GateConfig,
    listeners: ProxyListeners,
) -> io::Result<ProxyHandle> {
    let shared = ProxyShared::open(settings.clone()).map_err(io::Error::other)?;
    let addr = |l: &Option<TcpListener>| l.as_ref().map(TcpListener::local_addr).transpose();
    let (workers_addr, clients_addr, stats_addr) = (
        addr(&listeners.workers)?,
        addr(&listeners.clients)?,
        addr(&listeners.stats)?,
    );
    let admin_addr = listeners
        .admin
        .as_ref()
        .map(|a| a.listener.local_addr())
        .transpose()?;
    let sockets = Sockets {
        workers: to_std(listeners.workers)?,
        clients: to_std(listeners.clients)?,
        stats: to_std(listeners.stats)?,
        admin: match listeners.admin {
            Some(a) => Some((a.listener.into_std()?, a.token)),
            None => None,
        },
        http_limits: listeners.http_limits,
    };
    let (restart_tx, restart_rx) = tokio::sync::mpsc::unbounded_channel();
    let tasks = serve(&sockets, &gate, shared.clone(), restart_tx.clone())?;
    // Outside the restartable tasks: the keys and the key-manager link survive a restart.
    let key_manager = settings
        .key_manager
        .clone()
        .map(|km| tokio::spawn(run_key_manager_client(km, shared.keys.clone())));
    let current = Arc::new(std::sync::Mutex::new(shared.clone()));
    let supervisor = tokio::spawn(supervise(
        settings,
        gate,
        sockets,
        tasks,
        current.clone(),
        (restart_tx, restart_rx),
    ));
    Ok(ProxyHandle {
        shared,
        workers_addr,
        clients_addr,
        stats_addr,
        admin_addr,
        current,
        supervisor: Some(supervisor),
        key_manager,
    })
}

/// Spawns the accept loops, the stats and admin servers and the money (or flush) loop of `shared`.
fn serve(
    sockets: &Sockets,
    gate: &GateConfig,
    shared: Arc<ProxyShared>,
    restart: tokio::sync::mpsc::UnboundedSender<()>,
) -> io::Result<JoinSet<()>> {
    let mut tasks = JoinSet::new();
    if let Some(l) = from_std(&sockets.workers)? {
        let link = Arc::new(gate.workers.clone());
        tasks.spawn(accept_loop(l, PeerKind::Worker, link, shared.clone()));
    }
    if let Some(l) = from_std(&sockets.clients)? {
        let link = Arc::new(gate.clients.clone());
        tasks.spawn(accept_loop(l, PeerKind::Client, link, shared.clone()));
    }
    let limits = sockets.http_limits;
    if let Some(l) = from_std(&sockets.stats)? {
        let app = proxy_stats_router(shared.clone());
        tasks.spawn(serve_logged(l, app, limits, "proxy stats"));
    }
    if let Some((l, token)) = &sockets.admin {
        let l = TcpListener::from_std(l.try_clone()?)?;
        let app = admin_router(proxy_admin_routes(shared.clone()), token.clone());
        tasks.spawn(serve_logged(l, app, limits, "proxy admin"));
    }
    if shared.money.is_some() {
        tasks.spawn(money_loop(shared, restart));
    } else {
        tasks.spawn(flush_loop(shared));
    }
    Ok(tasks)
}

/// Runs the tasks of the current state; on a restart request drops them (and with them
/// every connection) and serves a state opened again from the settings and the books.
async fn supervise(
    settings: ProxySettings,
    gate: GateConfig,
    sockets: Sockets,
    mut tasks: JoinSet<()>,
    current: Arc<std::sync::Mutex<Arc<ProxyShared>>>,
    (restart_tx, mut restart_rx): (
        tokio::sync::mpsc::UnboundedSender<()>,
        tokio::sync::mpsc::UnboundedReceiver<()>,
    ),
) {
    loop {
        tokio::select! {
            Some(()) = restart_rx.recv() => {}
            ended = tasks.join_next() => match ended {
                None => return,
                Some(_) => continue,
            },
        }
        tasks.shutdown().await;
        // Worker sessions are also held by the registry of the old state: close them.
        let old = lock(&current).clone();
        for (_, conns) in old.registry.snapshot() {
            for conn in conns {
                conn.session.close();
            }
        }
        info!("proxy restarting on its new contract (every connection dropped)");
        let shared = loop {
            let settings = settings.clone();
            let keys = old.keys.clone();
            match tokio::task::spawn_blocking(move || ProxyShared::open_with_keys(settings, keys))
                .await
            {
                Ok(Ok(shared)) => break shared,
                Ok(Err(e)) => warn!(error = %e, "proxy restart failed; retrying in 5 s"),
                Err(e) => warn!(error = %e, "proxy restart panicked; retrying in 5 s"),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        };
        *lock(&current) = shared.clone();
        tasks = match serve(&sockets, &gate, shared, restart_tx.clone()) {
            Ok(tasks) => tasks,
            Err(e) => {
                warn!(error = %e, "proxy sockets unusable after the restart; stopping");
                return;
            }
        };
    }
}

/// The money loop (with a ledger): one [`super::money::Money::tick`] per interval, on the
/// blocking pool since ledger calls are synchronous. When the tick left our contract it
/// asks the supervisor for a restart and ends.
async fn money_loop(shared: Arc<ProxyShared>, restart: tokio::sync::mpsc::UnboundedSender<()>) {
    let Some(interval) = shared.money.as_ref().map(|m| m.tick_interval()) else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let step_shared = shared.clone();
        let step = tokio::task::spawn_blocking(move || {
            let shared = step_shared;
            shared.money.as_ref().is_some_and(|money| {
                money.tick(&shared.payments);
                money.restart_requested()
            })
        });
        match step.await {
            Ok(true) => {
                let _ = restart.send(());
                return;
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "money loop step panicked"),
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
