//! The key manager's RPC port (delta §3.4): each connection is admitted under the
//! pre-handshake caps ([`crate::common::admission`]), through the same PoW + RA-TLS gate
//! (or reference router record) as the proxy's ports ([`crate::common::gate`]) and the
//! `tcp.connect` init, all within the admission deadline. There is no application
//! handshake: the peer sends `tcp.query`s.
//!
//! * `keyManager.getProxyPrivateKeys` / `keyManager.getWorkerPrivateKeys`
//!   (`proto_version` ignored, as the reference does) → `keyManager.privateKeys` with
//!   **every** live key; when hashes are checked, the peer's attested image hash must be in
//!   the root's proxy (resp. worker) hash list, else error 602 `unknown proxy hash` /
//!   `unknown worker hash`.
//! * anything else → error 601 `unknown query magic`; one-way packets are ignored.
//!
//! Timeouts: the admission deadline until the session is up, then the session's idle
//! timeout (an acceptor closes a link silent for 60 s); an answer the peer does not take
//! within [`ANSWER_TIMEOUT`] closes the link.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cocoon_net::{InboundMessage, IncomingQuery, SessionConfig};
use cocoon_tee::PeerIdentity;
use cocoon_wire::schema::{functions, types};
use cocoon_wire::tl::to_bytes;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use super::KeyManagerShared;
use crate::common::admission::{accept_admitted, PendingSlot, PortAdmission};
use crate::common::gate::{admit_and_establish, PortGate};

/// `tcp.queryError` code of an unknown query (TON `ErrorCode::failure`).
pub const ERROR_UNKNOWN_MAGIC: i32 = 601;
/// `tcp.queryError` code of a refused caller (TON `ErrorCode::error`).
pub const ERROR_REFUSED: i32 = 602;

const PORT: &str = "key manager";

/// How long an answer may wait for room in the peer's outbound queue before the link is
/// closed (a peer that does not read).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Proxy,
    Worker,
}

/// The answer to one query: TL bytes, or an error code and message.
pub fn answer(
    shared: &KeyManagerShared,
    peer_image_hash: &[u8; 32],
    query: &[u8],
) -> Result<Vec<u8>, (i32, String)> {
    let magic = query
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let caller = match magic {
        Some(functions::key_manager::GetProxyPrivateKeys::CONSTRUCTOR_ID) => Caller::Proxy,
        Some(functions::key_manager::GetWorkerPrivateKeys::CONSTRUCTOR_ID) => Caller::Worker,
        _ => {
            shared
                .counters
                .unknown
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err((ERROR_UNKNOWN_MAGIC, "unknown query magic".into()));
        }
    };
    if shared.settings.check_hashes && !shared.root_allows(caller, peer_image_hash) {
        shared
            .counters
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let what = match caller {
            Caller::Proxy => "unknown proxy hash",
            Caller::Worker => "unknown worker hash",
        };
        return Err((ERROR_REFUSED, what.into()));
    }
    let keys = shared
        .ring
        .live_keys()
        .into_iter()
        .map(|k| types::key_manager::PrivateKey {
            valid_until_utime: k.valid_until as i32,
            private_key: k.seed,
        })
        .collect();
    shared
        .counters
        .served
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(to_bytes(&types::key_manager::PrivateKeys { keys }))
}

/// Accepts connections on `listener` until the task is aborted.
pub(super) async fn accept_loop(
    listener: TcpListener,
    gate: Arc<PortGate>,
    shared: Arc<KeyManagerShared>,
) {
    let per_address = matches!(*gate, PortGate::Attested(_));
    let admission = PortAdmission::new(shared.settings.admission, PORT, per_address);
    info!(addr = ?listener.local_addr().ok(), check_hashes = shared.settings.check_hashes,
        "key manager listening for proxies and workers");
    accept_admitted(listener, admission, |tcp, addr, slot| {
        handle_connection(tcp, addr, gate.clone(), shared.clone(), slot)
    })
    .await;
}

async fn handle_connection(
    tcp: TcpStream,
    addr: SocketAddr,
    gate: Arc<PortGate>,
    shared: Arc<KeyManagerShared>,
    slot: PendingSlot,
) {
    let _ = tcp.set_nodelay(true);
    let deadline = shared.settings.admission.deadline;
    let handshake = admit_and_establish(tcp, addr, PORT, &gate, |peer| {
        SessionConfig::acceptor().with_label(format!("key manager peer {peer}"))
    });
    let (session, mut inbound, peer) = match tokio::time::timeout(deadline, handshake).await {
        Ok(Some(established)) => established,
        Ok(None) => return,
        Err(_) => {
            debug!(%addr, ?deadline, "handshake deadline passed; connection closed");
            slot.timed_out();
            return;
        }
    };
    drop(slot);
    debug!(%addr, image_hash = %hex::encode(peer.image_hash), "key manager peer connected");
    while let Some(message) = inbound.next().await {
        match message {
            InboundMessage::Packet(_) => {}
            InboundMessage::Query(query) => {
                let answered = respond(&shared, &peer, query);
                if tokio::time::timeout(ANSWER_TIMEOUT, answered)
                    .await
                    .is_err()
                {
                    debug!(%addr, "peer does not take its answer; connection closed");
                    session.close();
                    return;
                }
            }
        }
    }
    drop(session);
}

async fn respond(shared: &KeyManagerShared, peer: &PeerIdentity, mut query: IncomingQuery) {
    let data = query.take_data();
    let sent = match answer(shared, &peer.image_hash, &data) {
        Ok(bytes) => query.answer(bytes).await,
        Err((code, message)) => {
            debug!(code, %message, image_hash = %hex::encode(peer.image_hash), "key query refused");
            query.error(code, message).await
        }
    };
    if let Err(e) = sent {
        debug!(error = %e, "key manager answer not sent");
    }
}

#[cfg(test)]
#[path = "rpc_tests.rs"]
mod tests;
