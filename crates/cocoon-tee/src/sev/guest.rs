//! Our own SEV-SNP evidence, inside an SNP guest: an ATTESTATION_REPORT of
//! chosen report data through configfs-tsm (`sev_guest` provider, see
//! [`crate::configfs_tsm`]), the host's certificate table from `auxblob`
//! ([`super::cert_table`]), and the RA-TLS certificate made of them
//! ([`sev_certificate`]): report data = SHA-512 of the certificate key, as
//! [`super::ratls::verify_sev_evidence`] expects (delta §6.3, §6.5).
//!
//! The VCEK comes from the host's table when it provides one, else from the
//! caller (a file, or AMD's KDS through [`super::kds`]). It must be the
//! chip's: its hwID is checked against the report's chip id before a
//! certificate is made.
//!
//! Only configfs-tsm (Linux ≥ 6.7) is used, not the older `/dev/sev-guest`
//! `SNP_GET_REPORT` ioctl: on those kernels the same driver serves both, and
//! the ioctl would need `unsafe` FFI that cannot be exercised outside an SNP
//! guest.

use std::time::SystemTime;

use super::cert_table::{CertKind, CertTable};
use super::error::SevError;
use super::report::SnpReport;
use super::vcek::{certificate_der, Vcek};
use crate::cert::{self, CertAndKey, CertError, CertKey};
use crate::configfs_tsm::ConfigfsTsm;
use crate::AttestError;

/// One report from the firmware and what the host sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestReport {
    /// The ATTESTATION_REPORT, raw.
    pub raw: Vec<u8>,
    pub report: SnpReport,
    /// The host's certificate table (empty when it sent none).
    pub cert_table: CertTable,
}

impl GuestReport {
    /// The VCEK (DER) the host provided, if any.
    pub fn host_vcek(&self) -> Option<&[u8]> {
        self.cert_table.get(CertKind::Vcek)
    }
}

fn generation_failed(detail: impl Into<String>) -> AttestError {
    AttestError::QuoteGeneration {
        detail: detail.into(),
    }
}

/// The SNP guest we run in, reached through configfs-tsm.
#[derive(Debug, Clone)]
pub struct SevGuest {
    tsm: ConfigfsTsm,
}

impl Default for SevGuest {
    fn default() -> Self {
        SevGuest {
            tsm: ConfigfsTsm::sev(),
        }
    }
}

impl SevGuest {
    /// `/sys/kernel/config/tsm/report`, provider `sev_guest`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Another configfs-tsm setup (report directory, existing entry, timeout).
    pub fn with_tsm(tsm: ConfigfsTsm) -> Self {
        SevGuest { tsm }
    }

    pub fn is_available(&self) -> bool {
        self.tsm.is_available()
    }

    /// A report of `report_data`. The report must carry exactly that data;
    /// a malformed certificate table is an error (not silently ignored).
    pub fn report(&self, report_data: &[u8; 64]) -> Result<GuestReport, AttestError> {
        let answer = self.tsm.report(report_data)?;
        let report = SnpReport::parse(&answer.outblob)?;
        if report.report_data != *report_data {
            return Err(generation_failed(
                "the SEV-SNP report carries other report data than requested",
            ));
        }
        let cert_table = match &answer.auxblob {
            Some(aux) => CertTable::parse(aux)?,
            None => CertTable::default(),
        };
        Ok(GuestReport {
            raw: answer.outblob,
            report,
            cert_table,
        })
    }
}

/// Check that `vcek` (DER or PEM) is this chip's and return it as PEM, as
/// the certificate carries it.
pub fn chip_vcek_pem(report: &SnpReport, vcek: &[u8]) -> Result<String, SevError> {
    let parsed = Vcek::parse(vcek)?;
    if report.mask_chip_id {
        return Err(SevError::ChipIdMasked);
    }
    if report.chip_id.get(..parsed.hw_id.len()) != Some(parsed.hw_id.as_slice()) {
        return Err(SevError::HwIdMismatch {
            hw_id: hex::encode(&parsed.hw_id),
            chip_id: hex::encode(report.chip_id),
        });
    }
    let der = certificate_der(vcek).map_err(|reason| SevError::VcekMalformed { reason })?;
    Ok(cert::pem_encode("CERTIFICATE", &der))
}

/// A certificate of `key` with SEV-SNP evidence from `guest`: a report of
/// SHA-512(public key), the host's VCEK or else `fallback_vcek(report)`.
pub fn sev_certificate(
    key: CertKey,
    guest: &SevGuest,
    fallback_vcek: &dyn Fn(&SnpReport) -> Result<Vec<u8>, AttestError>,
    not_before: SystemTime,
) -> Result<(CertAndKey, GuestReport), CertError> {
    let report_data = cert::report_data_for_key(&key.public_key());
    let got = guest.report(&report_data)?;
    let vcek = match got.host_vcek() {
        Some(vcek) => vcek.to_vec(),
        None => fallback_vcek(&got.report)?,
    };
    let vcek_pem = chip_vcek_pem(&got.report, &vcek).map_err(AttestError::from)?;
    let made =
        cert::generate_with_sev_evidence(key, got.raw.clone(), vcek_pem.into_bytes(), not_before)?;
    Ok((made, got))
}
