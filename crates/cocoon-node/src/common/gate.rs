//! The PoW + RA-TLS gate of an RPC port, shared by every role that accepts attested peers
//! (the proxy's two ports, the key manager's one): our own certificate (made at start with
//! the chosen TEE — `fake` is simulated and named so — and renewed before it expires), how
//! a port admits a peer ([`PortGate`]: in-process PoW + RA-TLS, or the peer-info record of a
//! reference router in front of us), and [`admit_and_establish`], which runs the gate and
//! then the `tcp.connect` init as acceptor.
//!
//! Behind a reference router there is no certificate of ours: the router (`router -R
//! <pub>:127.0.0.1:<port>@tee --serialize-info`) does PoW, RA-TLS and the quote
//! verification, and each connection it forwards starts with its peer-info record
//! ([`admit_from_router`]); the port policy is re-checked on the record as far as it allows
//! ([`cocoon_tee::peer_info::identity`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cocoon_net::{establish, Inbound, Session, SessionConfig};
use cocoon_tee::link::{accept, ServerLinkConfig};
use cocoon_tee::peer_info::{read_peer_info, Endpoint, PeerInfoError, RelayedPolicy};
use cocoon_tee::tls::OwnCert;
use cocoon_tee::{AttestError, AttestationPolicy, PeerIdentity};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::dial::TeeMode;
use super::policy::PolicyError;

/// How often our certificate (valid 24 h) is renewed.
pub const CERT_RENEW_INTERVAL: Duration = Duration::from_secs(3600);

/// How long a local router may take to write its record after connecting
/// (it has finished PoW and TLS with the peer by then).
pub const ROUTER_RECORD_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Why a gate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("cannot make our {tee:?} certificate: {reason}")]
    Cert { tee: TeeMode, reason: String },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Why a connection from the local router was refused.
#[derive(Debug, thiserror::Error)]
pub enum RouterAdmitError {
    #[error("bad peer-info record from the router: {0}")]
    Record(#[from] PeerInfoError),
    #[error("policy {policy} refuses the {tee} peer {peer_addr} (image hash {image_hash}) the router vouches for: {reason}")]
    Refused {
        policy: String,
        tee: cocoon_tee::TeeKind,
        peer_addr: Endpoint,
        image_hash: String,
        reason: AttestError,
    },
}

/// Reads the router's peer-info record from the start of `stream` and checks
/// the peer it names against `policy`. Returns the peer and the address the
/// router saw it connect from; the stream is left at the first COCOON frame.
pub async fn admit_from_router<S>(
    stream: &mut S,
    policy: &RelayedPolicy,
    timeout: Duration,
) -> Result<(PeerIdentity, Endpoint), RouterAdmitError>
where
    S: AsyncRead + Unpin,
{
    let record = read_peer_info(stream, timeout).await?;
    let peer = record.to_identity();
    policy
        .check(&peer)
        .map_err(|reason| RouterAdmitError::Refused {
            policy: policy.name.clone(),
            tee: peer.tee,
            peer_addr: record.source.clone(),
            image_hash: hex::encode(peer.image_hash),
            reason,
        })?;
    Ok((peer, record.source))
}

fn make_cert(tee: TeeMode) -> Result<cocoon_tee::cert::CertAndKey, GateError> {
    tee.make_certificate().map_err(|e| GateError::Cert {
        tee,
        reason: e.to_string(),
    })
}

/// A fresh certificate of ours quoted by `tee`, as a handle the ports share (and
/// [`spawn_cert_renewal`] replaces).
pub fn own_certificate(tee: TeeMode) -> Result<OwnCert, GateError> {
    let cert = make_cert(tee)?;
    OwnCert::new(&cert).map_err(|e| GateError::Cert {
        tee,
        reason: e.to_string(),
    })
}

/// An in-process PoW + RA-TLS port: our certificate, the peer policy, the PoW difficulty.
pub fn attested_port(
    own: &OwnCert,
    policy: Arc<dyn AttestationPolicy>,
    pow_difficulty: u32,
) -> PortGate {
    let mut cfg = ServerLinkConfig::new(own.clone(), policy);
    cfg.pow_difficulty = pow_difficulty;
    PortGate::Attested(cfg)
}

/// Renews our certificate every [`CERT_RENEW_INTERVAL`] (new handshakes use
/// the new one). Abort the handle to stop.
pub fn spawn_cert_renewal(own: OwnCert, tee: TeeMode) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CERT_RENEW_INTERVAL);
        tick.tick().await;
        loop {
            tick.tick().await;
            match make_cert(tee).and_then(|c| {
                own.replace(&c).map_err(|e| GateError::Cert {
                    tee,
                    reason: e.to_string(),
                })
            }) {
                Ok(()) => info!("certificate renewed"),
                Err(e) => warn!(error = %e, "certificate renewal failed; keeping the current one"),
            }
        }
    })
}

/// The gate of the port, then the `tcp.connect` init as acceptor with the session config
/// `session_config(peer address)`. `None` (logged, under `port`) when either fails. The
/// caller bounds the whole with its admission deadline.
pub async fn admit_and_establish(
    mut tcp: TcpStream,
    addr: SocketAddr,
    port: &'static str,
    gate: &PortGate,
    session_config: impl FnOnce(&str) -> SessionConfig,
) -> Option<(Session, Inbound, PeerIdentity)> {
    match gate {
        PortGate::Attested(link) => match accept(tcp, link).await {
            Ok((tls, peer)) => establish_as(tls, port, session_config(&addr.to_string()))
                .await
                .map(|(s, i)| (s, i, peer)),
            Err(e) => {
                debug!(%addr, port, error = %e, "attested link refused");
                None
            }
        },
        PortGate::BehindRouter(policy) => {
            match admit_from_router(&mut tcp, policy, ROUTER_RECORD_TIMEOUT).await {
                // Name the peer by the address the router saw, not the router's.
                Ok((peer, source)) => establish_as(tcp, port, session_config(&source.to_string()))
                    .await
                    .map(|(s, i)| (s, i, peer)),
                Err(e) => {
                    warn!(%addr, port, error = %e, "peer refused behind the router; connection closed");
                    None
                }
            }
        }
    }
}

async fn establish_as<S>(
    io: S,
    port: &'static str,
    cfg: SessionConfig,
) -> Option<(Session, Inbound)>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    match establish(io, cfg).await {
        Ok(ok) => Some(ok),
        Err(e) => {
            debug!(port, error = %e, "session init failed");
            None
        }
    }
}
