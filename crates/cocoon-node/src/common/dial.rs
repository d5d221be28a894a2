//! Dialing a proxy: the outbound half of every client and worker link.
//!
//! One call does the whole transport stack of runners.md §2.1 for the
//! built-in TLS mode: TCP (optionally through a SOCKS5 router, the reference's
//! `connect_to_proxy_via`) → proof-of-work + RA-TLS with our own certificate
//! (none / fake / TDX) checked against a proxy policy → the `tcp.connect`
//! session init as the dialer. Reconnecting with backoff is the roles' job.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cocoon_net::{Inbound, Session, SessionConfig};
use cocoon_tee::{AttestationPolicy, PeerIdentity, QuoteProvider};
use tokio::net::TcpStream;

/// How long the plain TCP connect (or the SOCKS5 exchange) may take.
pub const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which TEE produces the quote in our own RA-TLS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeeMode {
    /// No attestation: a plain self-signed certificate.
    None,
    /// The simulated TEE ("fake"): the quote is only the report data. Never evidence of anything.
    Fake,
    /// A real Intel TDX quote through Linux configfs-tsm (only inside a TD).
    Tdx,
}

impl TeeMode {
    /// Parses `none`, `fake` or `tdx`.
    pub fn parse(name: &str) -> Result<Self, DialError> {
        match name {
            "none" => Ok(TeeMode::None),
            "fake" => Ok(TeeMode::Fake),
            "tdx" => Ok(TeeMode::Tdx),
            other => Err(DialError::Setup(format!(
                "unknown TEE mode '{other}' (expected none, fake or tdx)"
            ))),
        }
    }

    /// The policy name that accepts peers of the same kind (`any` for none).
    pub fn matching_policy(self) -> &'static str {
        match self {
            TeeMode::None => "any",
            TeeMode::Fake => "fake",
            TeeMode::Tdx => "tdx",
        }
    }
}

/// Errors while reaching a proxy.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("dial setup: {0}")]
    Setup(String),
    #[error("TCP connect to {addr}: {reason}")]
    Tcp { addr: String, reason: String },
    #[error("SOCKS5 via {via} to {addr}: {reason}")]
    Socks {
        via: String,
        addr: String,
        reason: String,
    },
    #[error("attested link to {addr}: {reason}")]
    Link { addr: String, reason: String },
    #[error("session init with {addr}: {reason}")]
    Session { addr: String, reason: String },
}

/// Everything needed to dial proxies: our certificate source and the policy
/// the proxy must satisfy. Cheap to clone.
#[derive(Clone)]
pub struct DialConfig {
    link: Arc<cocoon_tee::link::ClientLinkConfig>,
    /// Optional SOCKS5 router `ip:port` (the reference's `connect_to_proxy_via`).
    pub via: Option<String>,
    /// Our TEE mode (for logs and stats).
    pub tee: TeeMode,
    /// The proxy policy name (for logs and stats).
    pub policy_name: String,
}

impl std::fmt::Debug for DialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialConfig")
            .field("via", &self.via)
            .field("tee", &self.tee)
            .field("policy", &self.policy_name)
            .finish()
    }
}

impl DialConfig {
    /// Builds a dial configuration: a fresh certificate for `tee` and the
    /// proxy policy named `policy` (`any`, `fake` or `tdx`).
    pub fn new(tee: TeeMode, policy: &str, via: Option<String>) -> Result<Self, DialError> {
        let provider: Option<Box<dyn QuoteProvider>> = match tee {
            TeeMode::None => None,
            TeeMode::Fake => Some(Box::new(cocoon_tee::fake::FakeQuoteProvider)),
            TeeMode::Tdx => Some(Box::new(
                cocoon_tee::configfs_tsm::ConfigfsTsmProvider::new(),
            )),
        };
        let cert = cocoon_tee::cert::generate(provider.as_deref(), SystemTime::now())
            .map_err(|e| DialError::Setup(format!("cannot make our {tee:?} certificate: {e}")))?;
        let own = cocoon_tee::tls::OwnCert::new(&cert)
            .map_err(|e| DialError::Setup(format!("cannot load our certificate into TLS: {e}")))?;
        let link = cocoon_tee::link::ClientLinkConfig::new(own, proxy_policy(policy)?);
        Ok(DialConfig {
            link: Arc::new(link),
            via: via.filter(|v| !v.is_empty()),
            tee,
            policy_name: policy.to_string(),
        })
    }
}

/// The policy a proxy must satisfy, by name (`any`, `fake`; `tdx` is not wired here yet).
fn proxy_policy(name: &str) -> Result<Arc<dyn AttestationPolicy>, DialError> {
    use cocoon_tee::policy::{AnyPolicy, FakePolicy, PolicyConfig, PolicyKind};
    match PolicyKind::parse(name) {
        Some(PolicyKind::Any) => Ok(Arc::new(AnyPolicy {
            name: "any".into(),
            config: PolicyConfig::default(),
        })),
        Some(PolicyKind::Fake) => Ok(Arc::new(FakePolicy {
            name: "fake".into(),
            config: PolicyConfig {
                require_evidence: true,
                ..PolicyConfig::default()
            },
        })),
        Some(PolicyKind::Tdx) => Err(DialError::Setup(
            "proxy policy 'tdx' needs DCAP collateral settings that this command does not take yet"
                .into(),
        )),
        None => Err(DialError::Setup(format!(
            "unknown proxy policy '{name}' (expected any, fake or tdx)"
        ))),
    }
}

/// Dials the proxy at `addr` (`host:port`) and returns the established
/// session, its inbound stream and the proxy's verified identity.
pub async fn dial_proxy(
    addr: &str,
    cfg: &DialConfig,
) -> Result<(Session, Inbound, PeerIdentity), DialError> {
    let tcp = match &cfg.via {
        None => tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| DialError::Tcp {
                addr: addr.into(),
                reason: "connect timed out".into(),
            })?
            .map_err(|e| DialError::Tcp {
                addr: addr.into(),
                reason: e.to_string(),
            })?,
        Some(via) => {
            let socks_err = |reason: String| DialError::Socks {
                via: via.clone(),
                addr: addr.into(),
                reason,
            };
            let via_addr: std::net::SocketAddr = via
                .parse()
                .map_err(|_| socks_err("router address is not ip:port".into()))?;
            let target: std::net::SocketAddr = addr.parse().map_err(|_| {
                socks_err("proxy address is not ip:port (SOCKS5 needs IPv4)".into())
            })?;
            cocoon_net::socks5::connect(via_addr, target)
                .await
                .map_err(|e| socks_err(e.to_string()))?
        }
    };
    let _ = tcp.set_nodelay(true);
    let (tls, peer) = cocoon_tee::link::connect(tcp, &cfg.link)
        .await
        .map_err(|e| DialError::Link {
            addr: addr.into(),
            reason: e.to_string(),
        })?;
    let (session, inbound) = cocoon_net::establish(tls, SessionConfig::dialer())
        .await
        .map_err(|e| DialError::Session {
            addr: addr.into(),
            reason: e.to_string(),
        })?;
    Ok((session, inbound, peer))
}
