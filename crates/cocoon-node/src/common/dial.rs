//! Dialing a proxy: the outbound half of every client and worker link.
//!
//! One call does the whole transport stack of runners.md §2.1. Built-in TLS
//! mode: TCP → proof-of-work + RA-TLS with our own certificate (none / fake /
//! TDX) checked against a proxy policy ([`super::policy`]) → the
//! `tcp.connect` session init as the dialer. Through a reference router (the
//! reference's `connect_to_proxy_via`): SOCKS5 CONNECT → the router's
//! peer-info record ([`cocoon_tee::peer_info`]), re-checked against the proxy
//! policy → the session init over the plain stream. Reconnecting with backoff
//! is the roles' job.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cocoon_net::{Inbound, Session, SessionConfig};
use cocoon_tee::cert::{CertAndKey, CertError};
use cocoon_tee::peer_info::{read_peer_info, RelayedPolicy};
use cocoon_tee::{PeerIdentity, QuoteProvider};
use tokio::net::TcpStream;

use super::policy::{NamedPolicy, PolicyBuilder};

/// How long the plain TCP connect (or the SOCKS5 exchange) may take.
pub const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`DialConfig::silence_limit`]: a proxy that sends nothing (not even a
/// `tcp.pong` to our pings, sent every third of it) for this long is taken for hung and
/// its connection dropped, so requests fail over and the link is dialled again.
pub const DEFAULT_PROXY_SILENCE_LIMIT: Duration = Duration::from_secs(6);

/// How long a reference router may take, after its SOCKS5 reply, to write the
/// peer-info record: it first does the proof of work (up to difficulty 28)
/// and the RA-TLS handshake with the proxy, quote verification included.
pub const ROUTER_RECORD_TIMEOUT: Duration = Duration::from_secs(150);

/// Which TEE produces the quote in our own RA-TLS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeeMode {
    /// No attestation: a plain self-signed certificate.
    None,
    /// The simulated TEE ("fake"): the quote is only the report data. Never evidence of anything.
    Fake,
    /// A real Intel TDX quote through Linux configfs-tsm (only inside a TD).
    Tdx,
    /// A real AMD SEV-SNP report through Linux configfs-tsm (only inside an SNP guest), with
    /// the chip's VCEK from the host's certificate table or else AMD's KDS.
    Sev,
}

impl TeeMode {
    /// Parses `none`, `fake`, `tdx` or `sev`.
    pub fn parse(name: &str) -> Result<Self, DialError> {
        match name {
            "none" => Ok(TeeMode::None),
            "fake" => Ok(TeeMode::Fake),
            "tdx" => Ok(TeeMode::Tdx),
            "sev" => Ok(TeeMode::Sev),
            other => Err(DialError::Setup(format!(
                "unknown TEE mode '{other}' (expected none, fake, tdx or sev)"
            ))),
        }
    }

    /// The policy name that accepts peers of the same kind (`any` for none).
    pub fn matching_policy(self) -> &'static str {
        match self {
            TeeMode::None => "any",
            TeeMode::Fake => "fake",
            // The `tdx` (reference `tee`) policies admit SEV-SNP peers too (with --sev-pki).
            TeeMode::Tdx | TeeMode::Sev => "tdx",
        }
    }

    /// What quotes our certificate: nothing, the simulated TEE, or configfs-tsm (TDX). An
    /// SEV-SNP certificate carries a report and a VCEK instead: see [`Self::make_certificate`].
    pub fn quote_provider(self) -> Option<Box<dyn QuoteProvider>> {
        match self {
            TeeMode::None | TeeMode::Sev => None,
            TeeMode::Fake => Some(Box::new(cocoon_tee::fake::FakeQuoteProvider)),
            TeeMode::Tdx => Some(Box::new(
                cocoon_tee::configfs_tsm::ConfigfsTsmProvider::new(),
            )),
        }
    }

    /// A fresh RA-TLS certificate (valid 24 h) quoted by this TEE.
    pub fn make_certificate(self) -> Result<CertAndKey, CertError> {
        if self == TeeMode::Sev {
            return sev_certificate(SystemTime::now());
        }
        let provider = self.quote_provider();
        cocoon_tee::cert::generate(provider.as_deref(), SystemTime::now())
    }
}

/// A certificate with SEV-SNP evidence made inside this SNP guest (configfs-tsm): a report
/// binding the new key, and the chip's VCEK from the host's certificate table or else AMD's
/// KDS (`cocoon gen-cert --tee sev` has the options for other sources).
fn sev_certificate(now: SystemTime) -> Result<CertAndKey, CertError> {
    use cocoon_tee::sev::guest::{sev_certificate, SevGuest};
    use cocoon_tee::sev::kds::{KdsClient, KdsCollateral, AMD_KDS_URL};
    let guest = SevGuest::new();
    if !guest.is_available() {
        return Err(CertError::Quote(cocoon_tee::AttestError::QuoteGeneration {
            detail: "--tee sev needs an AMD SEV-SNP guest with configfs-tsm \
                     (/sys/kernel/config/tsm/report, Linux >= 6.7); not found here"
                .into(),
        }));
    }
    let unix_now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let fallback = |report: &cocoon_tee::sev::report::SnpReport| {
        KdsCollateral::new(KdsClient::new(AMD_KDS_URL), None)
            .vcek_for(report, None, unix_now)
            .map_err(cocoon_tee::AttestError::from)
    };
    let (made, _) = sev_certificate(
        cocoon_tee::cert::CertKey::generate(),
        &guest,
        &fallback,
        now,
    )?;
    Ok(made)
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
    #[error("router {via} to {addr}: {reason}")]
    Router {
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
    /// The proxy policy as re-checked on a router's peer-info record.
    relayed_policy: RelayedPolicy,
    /// A proxy link without a frame from the proxy for this long is closed; we ping it
    /// every third of this (`tcp.ping`, which every reference proxy answers).
    pub silence_limit: Duration,
}

impl std::fmt::Debug for DialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialConfig")
            .field("via", &self.via)
            .field("tee", &self.tee)
            .field("policy", &self.policy_name)
            .field("silence_limit", &self.silence_limit)
            .finish()
    }
}

impl DialConfig {
    /// Builds a dial configuration: a fresh certificate for `tee` and the
    /// built-in proxy policy named `policy` (`any`, `fake` or `tdx`, the
    /// latter with collateral from Intel's PCS; see [`PolicyBuilder`]).
    pub fn new(tee: TeeMode, policy: &str, via: Option<String>) -> Result<Self, DialError> {
        let policy = PolicyBuilder::builtin()
            .build(policy)
            .map_err(|e| DialError::Setup(format!("proxy policy: {e}")))?;
        Self::with_policy(tee, policy, via)
    }

    /// Builds a dial configuration: a fresh certificate for `tee` and the
    /// proxy policy `policy` (from [`PolicyBuilder::build`]).
    pub fn with_policy(
        tee: TeeMode,
        policy: NamedPolicy,
        via: Option<String>,
    ) -> Result<Self, DialError> {
        let cert = tee
            .make_certificate()
            .map_err(|e| DialError::Setup(format!("cannot make our {tee:?} certificate: {e}")))?;
        let own = cocoon_tee::tls::OwnCert::new(&cert)
            .map_err(|e| DialError::Setup(format!("cannot load our certificate into TLS: {e}")))?;
        let relayed_policy = policy.relayed();
        let mut link = cocoon_tee::link::ClientLinkConfig::new(own, policy.policy);
        link.challenge_timeout = DEFAULT_PROXY_SILENCE_LIMIT;
        Ok(DialConfig {
            link: Arc::new(link),
            relayed_policy,
            via: via.filter(|v| !v.is_empty()),
            tee,
            policy_name: policy.name,
            silence_limit: DEFAULT_PROXY_SILENCE_LIMIT,
        })
    }

    /// The same configuration with another [`silence_limit`](Self::silence_limit). The
    /// limit also bounds the wait for the proxy's proof-of-work challenge when we dial
    /// directly (a proxy sends it on accept), so a redial to a proxy that is still hung
    /// fails within it too, and the slot can move on.
    pub fn with_silence_limit(mut self, limit: Duration) -> Self {
        self.silence_limit = limit;
        Arc::make_mut(&mut self.link).challenge_timeout = limit;
        self
    }
}

/// Dials the proxy at `addr` (`host:port`) and returns the established
/// session, its inbound stream and the proxy's verified identity.
///
/// Without a router: TCP, then our own PoW + RA-TLS. With `via` set (the
/// reference's `connect_to_proxy_via`): SOCKS5 CONNECT through the reference
/// router, which does the PoW and RA-TLS on our behalf (with its own
/// certificate and policy) and then writes the peer-info record; the proxy's
/// identity comes from that record and is re-checked against our proxy policy
/// as far as the record allows (see [`cocoon_tee::peer_info::identity`]); the
/// quote verification itself was the router's. The COCOON frames then run
/// over the plain stream.
pub async fn dial_proxy(
    addr: &str,
    cfg: &DialConfig,
) -> Result<(Session, Inbound, PeerIdentity), DialError> {
    match &cfg.via {
        None => dial_direct(addr, cfg).await,
        Some(via) => dial_via_router(addr, via, cfg).await,
    }
}

async fn dial_direct(
    addr: &str,
    cfg: &DialConfig,
) -> Result<(Session, Inbound, PeerIdentity), DialError> {
    let tcp = tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| DialError::Tcp {
            addr: addr.into(),
            reason: "connect timed out".into(),
        })?
        .map_err(|e| DialError::Tcp {
            addr: addr.into(),
            reason: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let (tls, peer) = cocoon_tee::link::connect(tcp, &cfg.link)
        .await
        .map_err(|e| DialError::Link {
            addr: addr.into(),
            reason: e.to_string(),
        })?;
    let (session, inbound) = establish_dialer(tls, addr, cfg.silence_limit).await?;
    Ok((session, inbound, peer))
}

async fn dial_via_router(
    addr: &str,
    via: &str,
    cfg: &DialConfig,
) -> Result<(Session, Inbound, PeerIdentity), DialError> {
    let socks_err = |reason: String| DialError::Socks {
        via: via.into(),
        addr: addr.into(),
        reason,
    };
    let via_addr: std::net::SocketAddr = via
        .parse()
        .map_err(|_| socks_err("router address is not ip:port".into()))?;
    let target: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| socks_err("proxy address is not ip:port (SOCKS5 needs IPv4)".into()))?;
    let mut tcp = cocoon_net::socks5::connect(via_addr, target)
        .await
        .map_err(|e| socks_err(e.to_string()))?;
    let router_err = |reason: String| DialError::Router {
        via: via.into(),
        addr: addr.into(),
        reason,
    };
    let record = read_peer_info(&mut tcp, ROUTER_RECORD_TIMEOUT)
        .await
        .map_err(|e| router_err(e.to_string()))?;
    let peer = record.to_identity();
    cfg.relayed_policy.check(&peer).map_err(|e| {
        router_err(format!(
            "the router vouches for a {} proxy (image hash {}) that policy {} refuses: {e}",
            peer.tee,
            hex::encode(peer.image_hash),
            cfg.policy_name
        ))
    })?;
    let (session, inbound) = establish_dialer(tcp, addr, cfg.silence_limit).await?;
    Ok((session, inbound, peer))
}

/// The session init as the dialer, with liveness: a ping after a third of `silence_limit`
/// without a frame, the link closed after `silence_limit` (the handshake keeps the
/// reference's 20 s).
async fn establish_dialer<S>(
    io: S,
    addr: &str,
    silence_limit: Duration,
) -> Result<(Session, Inbound), DialError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = SessionConfig::dialer()
        .with_liveness(silence_limit)
        .with_label(format!("proxy {addr}"));
    cocoon_net::establish(io, config)
        .await
        .map_err(|e| DialError::Session {
            addr: addr.into(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::TeeMode;

    #[test]
    fn sev_is_a_tee_mode_admitted_by_the_tdx_policies() {
        assert_eq!(TeeMode::parse("sev").expect("sev"), TeeMode::Sev);
        assert_eq!(TeeMode::Sev.matching_policy(), "tdx");
        let err = TeeMode::parse("snp").expect_err("unknown");
        assert!(err.to_string().contains("none, fake, tdx or sev"), "{err}");
    }

    #[test]
    fn an_sev_certificate_outside_an_snp_guest_fails_clearly() {
        if std::path::Path::new("/dev/sev-guest").exists() {
            println!("skipped: this machine is an SNP guest");
            return;
        }
        let err = TeeMode::Sev.make_certificate().expect_err("not in a guest");
        let text = err.to_string();
        assert!(
            text.contains("SEV-SNP guest") || text.contains("sev_guest"),
            "{text}"
        );
    }
}
