//! The accept loop of one RPC port. Each accepted TCP connection is first admitted under
//! the port's pre-handshake caps ([`super::admission`]; beyond them it is closed unread),
//! then goes through the port's gate and the `tcp.connect` init as acceptor
//! ([`crate::common::gate::admit_and_establish`]: PoW + RA-TLS in-process, or a reference
//! router's peer-info record), all within the admission deadline; then it leaves the
//! pending count and runs the client or worker handler.

use std::net::SocketAddr;
use std::sync::Arc;

use cocoon_net::SessionConfig;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use super::admission::{PendingSlot, PortAdmission};
use super::client_conn::serve_client;
use super::listener::PortGate;
use super::worker_conn::serve_worker;
use super::{ProxySettings, ProxyShared};
use crate::common::admission::accept_admitted;
use crate::common::gate::admit_and_establish;

/// Which RPC port a connection came in on.
#[derive(Debug, Clone, Copy)]
pub(super) enum PeerKind {
    Worker,
    Client,
}

impl PeerKind {
    fn port_name(self) -> &'static str {
        match self {
            PeerKind::Worker => "workers",
            PeerKind::Client => "clients",
        }
    }
}

/// Accepts connections on `listener` until the task is aborted (the proxy stops or restarts,
/// which drops every connection it spawned).
pub(super) async fn accept_loop(
    listener: TcpListener,
    kind: PeerKind,
    link: Arc<PortGate>,
    shared: Arc<ProxyShared>,
) {
    // Behind a router every connection comes from the router: no per-address cap there.
    let per_address = matches!(*link, PortGate::Attested(_));
    let admission = PortAdmission::new(shared.settings.admission, kind.port_name(), per_address);
    let limits = admission.limits();
    info!(addr = ?listener.local_addr().ok(), max_pending = limits.max_pending,
        max_pending_per_address = per_address.then_some(limits.max_pending_per_address),
        handshake_deadline_s = limits.deadline.as_secs_f64(),
        "listening for {}", kind.port_name());
    accept_admitted(listener, admission, |tcp, addr, slot| {
        handle_connection(tcp, addr, kind, link.clone(), shared.clone(), slot)
    })
    .await;
}

async fn handle_connection(
    tcp: TcpStream,
    addr: SocketAddr,
    kind: PeerKind,
    gate: Arc<PortGate>,
    shared: Arc<ProxyShared>,
    slot: PendingSlot,
) {
    let _ = tcp.set_nodelay(true);
    let deadline = shared.settings.admission.deadline;
    let settings = &shared.settings;
    let handshake = admit_and_establish(tcp, addr, kind.port_name(), &gate, |peer| {
        session_config(kind, peer, settings)
    });
    let (session, inbound, peer) = match tokio::time::timeout(deadline, handshake).await {
        Ok(Some(established)) => established,
        Ok(None) => return,
        Err(_) => {
            debug!(%addr, kind = ?kind, ?deadline, "handshake deadline passed; connection closed");
            slot.timed_out();
            return;
        }
    };
    // Established: no longer counted against the pre-handshake caps.
    drop(slot);
    match kind {
        PeerKind::Worker => serve_worker(shared, session, inbound, peer).await,
        PeerKind::Client => serve_client(shared, session, inbound, peer).await,
    }
}

/// Worker links are pinged and closed after `worker_silence_limit` without a
/// frame (a hung worker leaves selection); client links keep the reference's
/// acceptor timers.
fn session_config(kind: PeerKind, peer_addr: &str, settings: &ProxySettings) -> SessionConfig {
    match kind {
        PeerKind::Worker => SessionConfig::acceptor()
            .with_liveness(settings.worker_silence_limit)
            .with_label(format!("worker {peer_addr}")),
        PeerKind::Client => SessionConfig::acceptor().with_label(format!("client {peer_addr}")),
    }
}
