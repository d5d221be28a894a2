//! SEV-SNP evidence as an RA-TLS certificate carries it (delta §6.3, §6.5):
//! the report-data extension (`…12345.100`, SHA-512 of the certificate's
//! Ed25519 key), the report (`…12345.101`) and the VCEK (`…12345.102`, PEM).
//! [`verify_sev_evidence`] is the reference's order of checks on them; the
//! `tdx` policy calls it through [`super::admission::SevVerification`].

use super::collateral::SevCollateral;
use super::error::SevError;
use super::verify::{SevVerifier, VerifiedSnpReport};
use crate::peer_info::SevReport;
use crate::policy::expected_report_data;

/// The three SEV extensions of a peer certificate, as extracted by
/// [`crate::cert`]'s parser.
#[derive(Debug, Clone, Copy)]
pub struct SevEvidence<'a> {
    pub public_key: &'a [u8; 32],
    pub report_data_extension: &'a [u8],
    pub report: &'a [u8],
    pub vcek: &'a [u8],
}

/// The report-data extension must be SHA-512 of the key, then the report
/// must verify and carry that same value.
pub fn verify_sev_evidence(
    verifier: &SevVerifier,
    collateral: &SevCollateral,
    evidence: &SevEvidence<'_>,
    now: u64,
) -> Result<VerifiedSnpReport, SevError> {
    let expected = expected_report_data(evidence.public_key);
    if evidence.report_data_extension != expected.as_slice() {
        return Err(SevError::ReportDataExtensionMismatch);
    }
    verifier.verify(evidence.report, evidence.vcek, collateral, &expected, now)
}

impl VerifiedSnpReport {
    /// What a reference router's peer-info record says of this peer.
    pub fn peer_report(&self) -> SevReport {
        SevReport {
            measurement: self.report.measurement,
            report_data: self.report.report_data,
        }
    }
}
