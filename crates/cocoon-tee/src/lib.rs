//! # cocoon-tee — trusted execution and attested links (RA-TLS)
//!
//! TEE quotes (Intel TDX, SGX), image hashes, attestation policies, RA-TLS
//! certificates and the rustls verifiers that check them, and the proof-of-work
//! gate placed in front of every listening port.
//!
//! Attestation side: [`quote`], [`image_hash`], [`dcap`], [`policy`],
//! [`router_config`], [`cache`], [`fake`], [`configfs_tsm`], [`http_fetch`], and [`sev`]
//! (AMD SEV-SNP report verification, used by the `tdx` policy).
//! Link side: [`cert`], [`tls`], [`pow`], [`link`], and [`peer_info`] (the
//! record a reference router puts in front of a stream it verified).

pub mod error;
pub mod identity;

pub mod cache;
pub mod configfs_tsm;
pub mod dcap;
pub mod fake;
pub mod http_fetch;
pub mod image_hash;
pub mod policy;
pub mod quote;
pub mod router_config;
pub mod sev;

pub mod cert;
pub mod link;
pub mod peer_info;
pub mod pow;
pub mod tls;

pub use error::AttestError;
pub use identity::{
    AttestationPolicy, Evidence, PeerIdentity, QuoteProvider, TdxMeasurements, TeeKind,
};
