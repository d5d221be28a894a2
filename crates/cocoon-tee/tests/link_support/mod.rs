//! Shared helpers of the link tests: policies, certificates (regular and
//! deliberately odd, built with rcgen), and a link run over an in-memory duplex.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cocoon_tee::cache::CachedVerifier;
use cocoon_tee::cert::{self, CertAndKey, CertKey};
use cocoon_tee::dcap::DcapVerifier;
use cocoon_tee::dcap::PccsCollateral;
use cocoon_tee::fake::FakeQuoteProvider;
use cocoon_tee::link::{self, ClientLinkConfig, LinkError, ServerLinkConfig};
use cocoon_tee::policy::{AnyPolicy, FakePolicy, PolicyConfig, TdxPolicy};
use cocoon_tee::tls::{FixedClock, OwnCert};
use cocoon_tee::{AttestationPolicy, PeerIdentity};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, DnType};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// The instant all link tests run at (2025-06-25, inside the dcap-qvl sample collateral's validity).
pub const NOW_SECS: u64 = 1_750_850_000;

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn now() -> SystemTime {
    at(NOW_SECS)
}

pub fn any_policy() -> Arc<dyn AttestationPolicy> {
    Arc::new(AnyPolicy {
        name: "any".into(),
        config: PolicyConfig::default(),
    })
}

pub fn fake_policy() -> Arc<dyn AttestationPolicy> {
    Arc::new(FakePolicy {
        name: "fake".into(),
        config: PolicyConfig::default(),
    })
}

/// A `tdx` policy whose collateral comes from `collateral` (a source that is
/// never reached in tests that stop earlier points at a closed local port).
pub fn tdx_policy_with(
    collateral: Arc<dyn cocoon_tee::dcap::CollateralSource>,
) -> Arc<dyn AttestationPolicy> {
    Arc::new(TdxPolicy {
        name: "tdx".into(),
        config: PolicyConfig::default(),
        verification: CachedVerifier::new(DcapVerifier::new(), collateral, None),
        sev: None,
    })
}

pub fn tdx_policy() -> Arc<dyn AttestationPolicy> {
    tdx_policy_with(Arc::new(PccsCollateral::new("http://127.0.0.1:9")))
}

/// A regular certificate valid from an hour before [`now`].
pub fn fake_cert() -> CertAndKey {
    cert::generate(Some(&FakeQuoteProvider), at(NOW_SECS - 3600)).expect("fake cert")
}

pub fn plain_cert() -> CertAndKey {
    cert::generate(None, at(NOW_SECS - 3600)).expect("plain cert")
}

pub fn own(cert: &CertAndKey) -> OwnCert {
    OwnCert::new(cert).expect("own cert")
}

/// rcgen parameters shaped like ours (subject, dates, SAN incl. DNS 127.0.0.1,
/// KU/EKU) for building odd certificates; callers then add or change things.
pub fn odd_params(not_before: u64, not_after: u64) -> CertificateParams {
    let mut params = CertificateParams::default();
    // rcgen would make "127.0.0.1" an iPAddress; reference clients need the dNSName.
    params.subject_alt_names = ["localhost", "127.0.0.1"]
        .iter()
        .map(|name| rcgen::SanType::DnsName((*name).try_into().expect("ia5")))
        .collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    params.distinguished_name = dn;
    params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before as i64).expect("time");
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after as i64).expect("time");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params
}

/// A critical extension with the raw `value`.
pub fn critical_ext(arcs: &[u64], value: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(arcs, value);
    ext.set_criticality(true);
    ext
}

pub const QUOTE_ARCS: [u64; 8] = [1, 3, 6, 1, 4, 1, 12345, 1];
pub const CLAIMS_ARCS: [u64; 8] = [1, 3, 6, 1, 4, 1, 12345, 2];

/// Sign `params` with an Ed25519 `key` and return it as a presentable certificate.
pub fn odd_ed25519(params: &CertificateParams, key: &CertKey) -> (Vec<u8>, Arc<CertifiedKey>) {
    let cert = params.self_signed(key).expect("self-signed");
    let der = cert.der().to_vec();
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(
        key.to_pkcs8_v1_der(),
    ))
    .expect("eddsa key");
    (
        der.clone(),
        Arc::new(CertifiedKey::new(vec![CertificateDer::from(der)], signer)),
    )
}

/// Sign `params` with a fresh key of `alg` (ECDSA, …).
pub fn odd_with_alg(
    params: &CertificateParams,
    alg: &'static rcgen::SignatureAlgorithm,
) -> (Vec<u8>, Arc<CertifiedKey>) {
    let key = rcgen::KeyPair::generate_for(alg).expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    let der = cert.der().to_vec();
    let pkcs8 =
        rustls::pki_types::PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = rustls::crypto::ring::sign::any_supported_type(&pkcs8).expect("signer");
    (
        der.clone(),
        Arc::new(CertifiedKey::new(vec![CertificateDer::from(der)], signer)),
    )
}

pub fn server_config(
    own: OwnCert,
    policy: Arc<dyn AttestationPolicy>,
    difficulty: u32,
) -> ServerLinkConfig {
    let mut config = ServerLinkConfig::new(own, policy);
    config.pow_difficulty = difficulty;
    config.pow_timeout = Duration::from_secs(10);
    config.tls_timeout = Duration::from_secs(10);
    config.clock = Arc::new(FixedClock(now()));
    config
}

pub fn client_config(own: OwnCert, policy: Arc<dyn AttestationPolicy>) -> ClientLinkConfig {
    let mut config = ClientLinkConfig::new(own, policy);
    config.pow_timeout = Duration::from_secs(10);
    config.tls_timeout = Duration::from_secs(10);
    config.clock = Arc::new(FixedClock(now()));
    config
}

pub type LinkOutcome = Result<PeerIdentity, LinkError>;

/// Run both sides over a tokio duplex; each side's result is its peer's
/// identity. After a successful handshake the sides exchange one message
/// each way, so a client refused by the server sees the server's alert.
pub async fn run_link(
    server: &ServerLinkConfig,
    client: &ClientLinkConfig,
) -> (LinkOutcome, LinkOutcome) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server_side = async {
        let (mut tls, peer) = link::accept(server_io, server).await?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(LinkError::Tls)?;
        tls.write_all(b"pong").await.map_err(LinkError::Tls)?;
        tls.flush().await.map_err(LinkError::Tls)?;
        Ok(peer)
    };
    let client_side = async {
        let (mut tls, peer) = link::connect(client_io, client).await?;
        tls.write_all(b"ping").await.map_err(LinkError::Tls)?;
        tls.flush().await.map_err(LinkError::Tls)?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(LinkError::Tls)?;
        assert_eq!(&buf, b"pong");
        Ok(peer)
    };
    tokio::join!(server_side, client_side)
}
