//! rustls configuration for RA-TLS links, as the reference's (tee.md §6):
//! TLS 1.3 only, AES-GCM suites only (`TLS13_AES_128_GCM_SHA256`,
//! `TLS13_AES_256_GCM_SHA384`), ring provider, mutual authentication always,
//! no session resumption and no tickets, no ALPN, no SNI.
//!
//! Build a fresh config per connection (the reference makes a new SSL_CTX per
//! connection): the [`PeerVerifier`] inside holds that connection's verified
//! peer identity. The client connects to the server name `127.0.0.1` as an IP
//! address, so rustls sends no SNI, like the reference client.

mod own_cert;
mod verify;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig};

pub use own_cert::OwnCert;
pub use verify::{
    check_peer_certificate, PeerOutcome, PeerRejected, PeerRole, PeerVerifier, MAX_QUOTE_LEN,
    REFERENCE_HOST_NAME,
};

/// Source of "now" for certificate validity and attestation checks
/// (injectable so tests can move time).
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant (tests, replaying a past verification).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// The server name a client uses: `127.0.0.1` as an IP address (no SNI sent).
pub fn server_name() -> ServerName<'static> {
    ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into())
}

/// ring with only the two AES-GCM TLS 1.3 suites, in the reference's order.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            use rustls::crypto::ring::cipher_suite::{
                TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384,
            };
            Arc::new(CryptoProvider {
                cipher_suites: vec![TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384],
                ..rustls::crypto::ring::default_provider()
            })
        })
        .clone()
}

/// Client config presenting `own` and checking the server with `verifier`.
pub fn client_config(
    own: &OwnCert,
    verifier: Arc<PeerVerifier>,
) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(own.clone()));
    config.resumption = Resumption::disabled();
    config.enable_sni = false;
    Ok(config)
}

/// Server config presenting `own` and requiring a client certificate checked by `verifier`.
pub fn server_config(
    own: &OwnCert,
    verifier: Arc<PeerVerifier>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(own.clone()));
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}
