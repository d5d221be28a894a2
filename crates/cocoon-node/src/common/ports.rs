//! A node's HTTP ports beside its data plane — the read-only stats port and the admin port
//! ([`super::admin`]) — and the limits every HTTP listener of the node is served with
//! ([`crate::http_server`]).

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::admin::{admin_router, protect_reads, AdminPort, AdminToken};
use crate::http_server::{self, HttpLimits};

/// The stats and admin ports of a node, and the HTTP limits of all its listeners.
#[derive(Debug, Default)]
pub struct NodePorts {
    /// Read-only pages (`/stats`, `/jsonstats`, `/metrics`); `None`: off.
    pub stats: Option<TcpListener>,
    /// The config's `http_access_hash`: when set, the stats pages need it too (the
    /// reference's semantics); the admin port always needs its token.
    pub stats_token: Option<AdminToken>,
    /// The admin port; `None`: off (no endpoint changes state over HTTP).
    pub admin: Option<AdminPort>,
    /// Limits of every HTTP listener of the node (its data-plane API included).
    pub limits: HttpLimits,
}

/// Listener names of one role in log lines, e.g. `["worker stats", "worker admin"]`.
pub type PortNames = [&'static str; 2];

impl NodePorts {
    /// Spawns the stats server (`stats` routes) and the admin server (`admin` routes behind
    /// [`admin_router`]) onto `tasks`, for each port that is on.
    pub fn spawn(self, tasks: &mut JoinSet<()>, stats: Router, admin: Router, names: PortNames) {
        if let Some(listener) = self.stats {
            let app = protect_reads(stats, self.stats_token);
            tasks.spawn(serve_logged(listener, app, self.limits, names[0]));
        }
        if let Some(port) = self.admin {
            let app = admin_router(admin, port.token);
            tasks.spawn(serve_logged(port.listener, app, self.limits, names[1]));
        }
    }
}

/// [`http_server::serve`], logging the address at start and the error if it stops.
pub async fn serve_logged(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    name: &'static str,
) {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(listener = name, %addr, "HTTP listening"),
        Err(e) => tracing::warn!(listener = name, error = %e, "HTTP listener has no address"),
    }
    if let Err(e) = http_server::serve(listener, app, limits, name).await {
        tracing::error!(listener = name, error = %e, "HTTP server stopped");
    }
}
