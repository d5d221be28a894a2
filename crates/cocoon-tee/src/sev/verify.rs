//! The whole acceptance decision for one SEV-SNP report, offline at a given
//! UNIX time. In order:
//!
//! 1. the report is 1184 bytes, version 2–5, signed with ECDSA P-384 by the
//!    VCEK (not a VLEK), its chip id not masked;
//! 2. the VCEK parses, names Milan, Genoa or Turin (`Milan-B0` is Milan), and
//!    agrees with the report's CPUID family/model (report version ≥ 3);
//! 3. VCEK → ASK → ARK verifies for that product against the pinned ARK,
//!    every certificate valid at `now`, the ARK's CRL current and not
//!    revoking the ASK ([`super::chain`]);
//! 4. the VCEK's `hwID` is the report's chip id;
//! 5. the report signature verifies with the VCEK key;
//! 6. report data equals the expected binding (SHA-512 of the peer key in
//!    RA-TLS);
//! 7. guest policy, TCB and measurement ([`super::policy`]).
//!
//! Steps 1–6 are the reference's (delta §6.5) plus the version, signer and
//! product checks; step 7 is what it leaves unchecked.

use ring::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};

use super::chain::{verify_vcek_chain, SevTrust};
use super::collateral::SevCollateral;
use super::error::SevError;
use super::policy::{check_guest, check_measurement, check_tcb, SevPolicy};
use super::product::{Product, TcbVersion};
use super::report::{SnpReport, SIG_ALGO_ECDSA_P384_SHA384};
use super::sev_image_hash;
use super::vcek::Vcek;

/// Report versions this parser knows the layout of.
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 2..=5;

/// An accepted report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSnpReport {
    pub report: SnpReport,
    pub product: Product,
    /// The reported TCB (equal to the VCEK's).
    pub tcb: TcbVersion,
    /// SHA-256(measurement ‖ 64 zero bytes), as the reference (delta §6.5).
    pub image_hash: [u8; 32],
}

/// Verifies SEV-SNP reports against pinned roots under a [`SevPolicy`].
#[derive(Debug, Clone)]
pub struct SevVerifier {
    trust: SevTrust,
    policy: SevPolicy,
}

impl Default for SevVerifier {
    fn default() -> Self {
        SevVerifier {
            trust: SevTrust::amd(),
            policy: SevPolicy::default(),
        }
    }
}

impl SevVerifier {
    /// AMD's pinned roots, the default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust other roots (tests, private PKIs).
    pub fn with_trust(mut self, trust: SevTrust) -> Self {
        self.trust = trust;
        self
    }

    pub fn with_policy(mut self, policy: SevPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> &SevPolicy {
        &self.policy
    }

    /// Verify `report` (raw bytes) signed by `vcek` (DER or PEM) with the
    /// chains and CRLs of `collateral`, bound to `expected_report_data`, at
    /// UNIX time `now`.
    pub fn verify(
        &self,
        report: &[u8],
        vcek: &[u8],
        collateral: &SevCollateral,
        expected_report_data: &[u8; 64],
        now: u64,
    ) -> Result<VerifiedSnpReport, SevError> {
        let report = SnpReport::parse(report)?;
        check_format(&report)?;
        let vcek = Vcek::parse(vcek)?;
        check_product(&report, &vcek)?;
        verify_vcek_chain(&vcek, &self.trust, collateral, now, self.policy.require_crl)?;
        check_chip_id(&report, &vcek)?;
        check_signature(&report, &vcek)?;
        if report.report_data != *expected_report_data {
            return Err(SevError::ReportDataMismatch);
        }
        check_guest(&report, &self.policy)?;
        let tcb = check_tcb(&report, vcek.product, &vcek.tcb, &self.policy)?;
        check_measurement(&report, &self.policy)?;
        Ok(VerifiedSnpReport {
            image_hash: sev_image_hash(&report.measurement),
            product: vcek.product,
            tcb,
            report,
        })
    }
}

/// Version, signature algorithm and signing key.
fn check_format(report: &SnpReport) -> Result<(), SevError> {
    if !SUPPORTED_VERSIONS.contains(&report.version) {
        return Err(SevError::UnsupportedVersion {
            version: report.version,
        });
    }
    if report.signature_algo != SIG_ALGO_ECDSA_P384_SHA384 {
        return Err(SevError::UnsupportedSignatureAlgorithm {
            algo: report.signature_algo,
        });
    }
    if report.signing_key != 0 {
        return Err(SevError::NotSignedByVcek {
            signing_key: report.signing_key,
        });
    }
    Ok(())
}

/// The report's CPUID family/model (version ≥ 3; zero before) must name the
/// VCEK's product.
fn check_product(report: &SnpReport, vcek: &Vcek) -> Result<(), SevError> {
    let same = match report.cpu_product() {
        Some(cpu) => cpu == vcek.product,
        None => report.cpuid_family == 0,
    };
    if same {
        Ok(())
    } else {
        Err(SevError::ProductMismatch {
            vcek_product: vcek.product_name.clone(),
            family: report.cpuid_family,
            model: report.cpuid_model,
        })
    }
}

/// The VCEK's hwID is the chip id (Turin: its first 8 bytes).
fn check_chip_id(report: &SnpReport, vcek: &Vcek) -> Result<(), SevError> {
    if report.mask_chip_id {
        return Err(SevError::ChipIdMasked);
    }
    if report.chip_id.get(..vcek.hw_id.len()) != Some(vcek.hw_id.as_slice()) {
        return Err(SevError::HwIdMismatch {
            hw_id: hex::encode(&vcek.hw_id),
            chip_id: hex::encode(report.chip_id),
        });
    }
    Ok(())
}

/// ECDSA P-384/SHA-384 over bytes `[0, 0x2A0)` with the VCEK key.
fn check_signature(report: &SnpReport, vcek: &Vcek) -> Result<(), SevError> {
    let signature = report
        .signature_p384_fixed()
        .ok_or(SevError::SignatureInvalid)?;
    UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &vcek.public_key)
        .verify(report.signed_bytes(), &signature)
        .map_err(|_| SevError::SignatureInvalid)
}
