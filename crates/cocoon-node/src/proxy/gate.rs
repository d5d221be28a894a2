//! Building the proxy's PoW + RA-TLS gate: our own certificate (made at start
//! with the chosen TEE — `fake` is simulated and named so — and renewed before
//! it expires) and the peer policies of the two ports (by name, from
//! [`crate::common::policy`]).
//!
//! Behind a reference router (`cocoon proxy --behind-router`) there is no
//! certificate of ours: the router (`router -R <pub>:127.0.0.1:<port>@tee
//! --serialize-info`) does PoW, RA-TLS and the quote verification, and each
//! connection it forwards starts with its peer-info record
//! ([`admit_from_router`]); the port policy is re-checked on the record as far
//! as it allows ([`cocoon_tee::peer_info::identity`]).

use std::sync::Arc;
use std::time::Duration;

use cocoon_tee::link::ServerLinkConfig;
use cocoon_tee::peer_info::{read_peer_info, Endpoint, PeerInfoError, RelayedPolicy};
use cocoon_tee::tls::OwnCert;
use cocoon_tee::{AttestError, AttestationPolicy, PeerIdentity};
use tokio::io::AsyncRead;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::listener::{GateConfig, PortGate};
use crate::common::dial::TeeMode;
use crate::common::policy::{PolicyBuilder, PolicyError};

/// How often our certificate (valid 24 h) is renewed.
pub const CERT_RENEW_INTERVAL: Duration = Duration::from_secs(3600);

/// What the gate is made of (the `cocoon proxy` flags `--tee`,
/// `--worker-policy`, `--client-policy`, `--pow-difficulty`).
#[derive(Debug, Clone)]
pub struct GateOptions {
    pub tee: TeeMode,
    /// Policy workers must satisfy, by name (see [`PolicyBuilder::build`]).
    pub worker_policy: String,
    /// Policy clients must satisfy (the reference's client port is `any`).
    pub client_policy: String,
    /// Leading zero bits of the PoW (reference router default 20).
    pub pow_difficulty: u32,
}

/// Why the gate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("cannot make our {tee:?} certificate: {reason}")]
    Cert { tee: TeeMode, reason: String },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// How long a local router may take to write its record after connecting
/// (it has finished PoW and TLS with the peer by then).
pub const ROUTER_RECORD_TIMEOUT: Duration = Duration::from_secs(30);

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

/// The gate behind a reference router: no certificate, no PoW; each port
/// re-checks the router's records with its policy.
pub fn build_router_gate(
    opts: &GateOptions,
    policies: &PolicyBuilder,
) -> Result<GateConfig, GateError> {
    let gate = GateConfig {
        workers: PortGate::BehindRouter(policies.build(&opts.worker_policy)?.relayed()),
        clients: PortGate::BehindRouter(policies.build(&opts.client_policy)?.relayed()),
    };
    info!(worker_policy = %opts.worker_policy, client_policy = %opts.client_policy,
        "behind a reference router: peers are taken from its peer-info records (the router verifies their quotes)");
    Ok(gate)
}

fn make_cert(tee: TeeMode) -> Result<cocoon_tee::cert::CertAndKey, GateError> {
    tee.make_certificate().map_err(|e| GateError::Cert {
        tee,
        reason: e.to_string(),
    })
}

/// Builds the gate with the built-in policies (`tdx` with collateral from
/// Intel's PCS) and returns our certificate handle (for renewal).
pub fn build_gate(opts: &GateOptions) -> Result<(GateConfig, OwnCert), GateError> {
    build_gate_with(opts, &PolicyBuilder::builtin())
}

/// Builds the gate with policies from `policies` (a router policy file,
/// DCAP collateral settings) and returns our certificate handle.
pub fn build_gate_with(
    opts: &GateOptions,
    policies: &PolicyBuilder,
) -> Result<(GateConfig, OwnCert), GateError> {
    let cert = make_cert(opts.tee)?;
    let own = OwnCert::new(&cert).map_err(|e| GateError::Cert {
        tee: opts.tee,
        reason: e.to_string(),
    })?;
    let server = |policy: Arc<dyn AttestationPolicy>| {
        let mut cfg = ServerLinkConfig::new(own.clone(), policy);
        cfg.pow_difficulty = opts.pow_difficulty;
        cfg
    };
    let gate = GateConfig {
        workers: PortGate::Attested(server(policies.build(&opts.worker_policy)?.policy)),
        clients: PortGate::Attested(server(policies.build(&opts.client_policy)?.policy)),
    };
    info!(tee = ?opts.tee, worker_policy = %opts.worker_policy, client_policy = %opts.client_policy,
        pow_difficulty = opts.pow_difficulty, "attested gate ready{}",
        if opts.tee == TeeMode::Fake { " (FAKE TEE: simulated attestation, for local runs only)" } else { "" });
    Ok((gate, own))
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
