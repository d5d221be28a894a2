//! AMD SEV-SNP attestation: the ATTESTATION_REPORT ([`report`]), the VCEK
//! ([`vcek`]), the VCEK → ASK → ARK chain with AMD's roots pinned and the
//! ARK's CRL ([`chain`], [`collateral`]), and the acceptance decision
//! ([`verify`], [`policy`]), offline at a given time; [`ratls`] applies it
//! to the SEV extensions of an RA-TLS certificate. Every rejection is its
//! own [`SevError`] variant.
//!
//! Crates: the report is a fixed 1184-byte layout read by hand (as our TDX
//! quote body); certificates and CRLs are parsed with `x509-parser` and
//! signatures (RSASSA-PSS/SHA-384 for the chain, ECDSA P-384/SHA-384 for the
//! report) checked with `ring`, both already dependencies of this crate. The
//! `sev` crate would add OpenSSL or a second RustCrypto stack for what is
//! here a few hundred lines.
//!
//! Inside an SNP guest, [`guest`] gets our own report through configfs-tsm
//! (with the host's [`cert_table`]) and makes the RA-TLS certificate;
//! [`kds`] fetches VCEKs, chains and CRLs from AMD's KDS and caches them.
//!
//! [`admission`] is what the `tdx` policy ([`crate::policy::TdxPolicy`]) does
//! with SEV-SNP evidence when it has SEV collateral: verify (through
//! [`cache`]), then the policy's SEV allowlists. Without collateral, and in
//! the `fake` policy, SEV-SNP evidence is refused with
//! [`crate::AttestError::SevSnpUnsupported`].

pub mod admission;
pub mod cache;
pub mod cert_table;
pub mod chain;
pub mod collateral;
pub mod error;
pub mod guest;
pub mod kds;
pub mod policy;
pub mod product;
pub mod ratls;
pub mod report;
pub mod vcek;
pub mod verify;

pub use admission::{check_sev_identity, sev_peer_identity, SevVerification};
pub use cache::SevReportCache;
pub use chain::{verify_vcek_chain, SevTrust};
pub use collateral::{FixedSevCollateral, SevCollateral, SevCollateralSource};
pub use error::{ChainLink, SevError};
pub use guest::{sev_certificate, GuestReport, SevGuest};
pub use kds::{KdsClient, KdsCollateral, AMD_KDS_URL};
pub use policy::SevPolicy;
pub use product::{Product, TcbVersion};
pub use ratls::{verify_sev_evidence, SevEvidence};
pub use report::SnpReport;
pub use vcek::Vcek;
pub use verify::{SevVerifier, VerifiedSnpReport};

use sha2::{Digest, Sha256};

/// Image hash of a SEV-SNP guest, as the reference computes it (delta §6.5):
/// SHA-256 of the 112-byte serialisation `measurement ‖ report_data` with the
/// report data zeroed.
pub fn sev_image_hash(measurement: &[u8; 48]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(measurement);
    hasher.update([0u8; 64]);
    hasher.finalize().into()
}
