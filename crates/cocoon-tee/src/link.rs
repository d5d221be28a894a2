//! Attested links: the proof-of-work gate followed by mutual RA-TLS, over
//! any byte stream (TCP, in-memory duplex).
//!
//! [`accept`] (listening side): send a PoW challenge, check the answer, TLS
//! server handshake. [`connect`] (dialing side): solve the challenge, TLS
//! client handshake to `127.0.0.1` (no SNI). Both return the TLS stream and
//! the peer's verified [`PeerIdentity`]. Each phase has its own timeout (the
//! reference has none).
//!
//! TLS 1.3 note: the client's handshake completes before the server has
//! judged the client's certificate, so a client refused by the server learns
//! it on its first read (a TLS alert), not from [`connect`].

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

use crate::identity::{AttestationPolicy, PeerIdentity};
use crate::pow::{self, PowError};
use crate::tls::{self, Clock, OwnCert, PeerRejected, PeerVerifier, SystemClock};
use crate::AttestError;

/// Default limit for the whole PoW exchange on the listening side.
pub const DEFAULT_SERVER_POW_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit for the PoW exchange on the dialing side (covers solving up
/// to the default maximum difficulty 28 on a slow core).
pub const DEFAULT_CLIENT_POW_TIMEOUT: Duration = Duration::from_secs(120);
/// Default limit for the TLS handshake, including the peer's attestation check.
pub const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the listening side.
#[derive(Debug, Clone)]
pub struct ServerLinkConfig {
    /// Our certificate (replaceable while listening).
    pub own_cert: OwnCert,
    /// Decides which clients are accepted.
    pub policy: Arc<dyn AttestationPolicy>,
    /// Leading zero bits demanded from clients (0..=64; reference default 20).
    pub pow_difficulty: u32,
    pub pow_timeout: Duration,
    pub tls_timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

impl ServerLinkConfig {
    /// Defaults: difficulty 20, 30 s PoW and TLS timeouts, system clock.
    pub fn new(own_cert: OwnCert, policy: Arc<dyn AttestationPolicy>) -> Self {
        Self {
            own_cert,
            policy,
            pow_difficulty: pow::DEFAULT_DIFFICULTY,
            pow_timeout: DEFAULT_SERVER_POW_TIMEOUT,
            tls_timeout: DEFAULT_TLS_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Settings of the dialing side.
#[derive(Debug, Clone)]
pub struct ClientLinkConfig {
    pub own_cert: OwnCert,
    /// Decides which servers are accepted.
    pub policy: Arc<dyn AttestationPolicy>,
    /// Hardest PoW challenge we solve (reference default 28).
    pub max_pow_difficulty: u32,
    /// The whole proof-of-work phase, solving included.
    pub pow_timeout: Duration,
    /// How long the server may take to send its challenge (it sends it on accept; a
    /// server that does not is hung). At most `pow_timeout` in effect.
    pub challenge_timeout: Duration,
    pub tls_timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

impl ClientLinkConfig {
    /// Defaults: max difficulty 28, 120 s PoW timeout (the challenge may take all of it),
    /// 30 s TLS timeout, system clock.
    pub fn new(own_cert: OwnCert, policy: Arc<dyn AttestationPolicy>) -> Self {
        Self {
            own_cert,
            policy,
            max_pow_difficulty: pow::DEFAULT_MAX_DIFFICULTY,
            pow_timeout: DEFAULT_CLIENT_POW_TIMEOUT,
            challenge_timeout: DEFAULT_CLIENT_POW_TIMEOUT,
            tls_timeout: DEFAULT_TLS_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why an attested link could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    #[error("proof-of-work phase timed out after {0:?}")]
    PowTimeout(Duration),
    #[error("the server sent no proof-of-work challenge within {0:?}")]
    PowNoChallenge(Duration),
    #[error("peer's proof of work is invalid: {0}")]
    PowInvalid(PowError),
    #[error("server asks proof-of-work difficulty {asked}, more than our maximum {max}")]
    PowTooHard { asked: i32, max: u32 },
    #[error("proof-of-work exchange failed: {0}")]
    PowIo(std::io::Error),
    #[error("proof-of-work setup failed: {0}")]
    PowConfig(PowError),
    #[error("TLS handshake timed out after {0:?}")]
    TlsTimeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("peer certificate rejected: {0}")]
    PeerRejected(PeerRejected),
    #[error("peer failed attestation: {0}")]
    Attestation(AttestError),
    #[error("TLS configuration error: {0}")]
    Config(#[from] rustls::Error),
    #[error("TLS handshake finished without a verified peer certificate")]
    NoPeerIdentity,
}

impl From<PowError> for LinkError {
    fn from(err: PowError) -> Self {
        match err {
            PowError::Timeout(limit) => LinkError::PowTimeout(limit),
            PowError::NoChallenge(limit) => LinkError::PowNoChallenge(limit),
            PowError::TooHard { asked, max } => LinkError::PowTooHard { asked, max },
            PowError::Io(io) => LinkError::PowIo(io),
            PowError::BadDifficulty(_) | PowError::SolverStopped => LinkError::PowConfig(err),
            invalid => LinkError::PowInvalid(invalid),
        }
    }
}

impl From<PeerRejected> for LinkError {
    fn from(rejected: PeerRejected) -> Self {
        match rejected {
            PeerRejected::Attestation(err) => LinkError::Attestation(err),
            other => LinkError::PeerRejected(other),
        }
    }
}

/// Accept an attested link on `stream` (listening side).
pub async fn accept<S>(
    mut stream: S,
    config: &ServerLinkConfig,
) -> Result<(server::TlsStream<S>, PeerIdentity), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pow::server_gate(&mut stream, config.pow_difficulty, config.pow_timeout).await?;
    let verifier = Arc::new(PeerVerifier::new(
        config.policy.clone(),
        config.clock.clone(),
    ));
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(
        &config.own_cert,
        verifier.clone(),
    )?));
    let handshake = tokio::time::timeout(config.tls_timeout, acceptor.accept(stream)).await;
    finish(handshake, &verifier, config.tls_timeout)
}

/// Dial an attested link on `stream` (dialing side).
pub async fn connect<S>(
    mut stream: S,
    config: &ClientLinkConfig,
) -> Result<(client::TlsStream<S>, PeerIdentity), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pow::client_solve(
        &mut stream,
        config.max_pow_difficulty,
        config.challenge_timeout,
        config.pow_timeout,
    )
    .await?;
    let verifier = Arc::new(PeerVerifier::new(
        config.policy.clone(),
        config.clock.clone(),
    ));
    let connector = TlsConnector::from(Arc::new(tls::client_config(
        &config.own_cert,
        verifier.clone(),
    )?));
    let handshake = tokio::time::timeout(
        config.tls_timeout,
        connector.connect(tls::server_name(), stream),
    )
    .await;
    finish(handshake, &verifier, config.tls_timeout)
}

/// Turn the handshake result and the verifier's record into the link result.
fn finish<T>(
    handshake: Result<std::io::Result<T>, tokio::time::error::Elapsed>,
    verifier: &PeerVerifier,
    limit: Duration,
) -> Result<(T, PeerIdentity), LinkError> {
    let outcome = verifier.take_outcome();
    match handshake {
        Err(_) => Err(LinkError::TlsTimeout(limit)),
        Ok(Err(io)) => match outcome {
            Some(Err(rejected)) => Err(rejected.into()),
            _ => Err(LinkError::Tls(io)),
        },
        Ok(Ok(stream)) => match outcome {
            Some(Ok(peer)) => Ok((stream, peer)),
            Some(Err(rejected)) => Err(rejected.into()),
            None => Err(LinkError::NoPeerIdentity),
        },
    }
}
