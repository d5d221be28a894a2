//! Admitting a SEV-SNP peer: what the `tdx` (reference `tee`) policy does
//! with SEV evidence (delta §6.4 step 5). [`SevVerification`] verifies the
//! certificate's evidence ([`super::verify_sev_evidence`]) against loaded
//! collateral, through an optional [`SevReportCache`]; then
//! [`check_sev_identity`] applies the policy's SEV allowlists
//! (`sev_allowed_measurements`, `sev_allowed_image_hashes`, empty = any).
//!
//! Stricter than the reference: a policy that pins TDX image hashes but has
//! no SEV allowlist refuses SEV-SNP peers ([`AttestError::SevAllowlistMissing`])
//! instead of admitting any SNP guest.

use std::sync::Arc;

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::cache::SevReportCache;
use super::collateral::{FixedSevCollateral, SevCollateral, SevCollateralSource};
use super::error::SevError;
use super::policy::{check_guest, check_measurement, check_tcb};
use super::ratls::{verify_sev_evidence, SevEvidence};
use super::sev_image_hash;
use super::vcek::{certificate_der, Vcek};
use super::verify::{SevVerifier, VerifiedSnpReport};
use crate::peer_info::SevReport;
use crate::policy::{expected_report_data, PolicyConfig};
use crate::{AttestError, PeerIdentity, TeeKind};

/// SEV-SNP verification for one policy: verifier (roots and appraisal
/// switches), where the collateral (chains, CRLs) comes from, and an
/// optional shared cache.
#[derive(Debug, Clone)]
pub struct SevVerification {
    pub verifier: SevVerifier,
    pub collateral: Arc<dyn SevCollateralSource>,
    pub cache: Option<Arc<SevReportCache>>,
}

impl SevVerification {
    /// With collateral loaded once.
    pub fn new(
        verifier: SevVerifier,
        collateral: Arc<SevCollateral>,
        cache: Option<Arc<SevReportCache>>,
    ) -> Self {
        Self::with_source(verifier, Arc::new(FixedSevCollateral(collateral)), cache)
    }

    /// With collateral from `source` (e.g. fetched from AMD's KDS), asked
    /// for the product of each peer's VCEK.
    pub fn with_source(
        verifier: SevVerifier,
        collateral: Arc<dyn SevCollateralSource>,
        cache: Option<Arc<SevReportCache>>,
    ) -> Self {
        SevVerification {
            verifier,
            collateral,
            cache,
        }
    }

    /// Verify `evidence` at UNIX time `now`, from the cache when possible.
    pub fn verify(
        &self,
        evidence: &SevEvidence<'_>,
        now: u64,
    ) -> Result<Arc<VerifiedSnpReport>, SevError> {
        let expected = expected_report_data(evidence.public_key);
        if evidence.report_data_extension != expected.as_slice() {
            return Err(SevError::ReportDataExtensionMismatch);
        }
        let key = SevReportCache::key(evidence.report, evidence.vcek);
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(&key, now)) {
            if hit.report.report_data != expected {
                return Err(SevError::ReportDataMismatch);
            }
            // The cache may be shared by verifiers with other switches.
            let policy = self.verifier.policy();
            check_guest(&hit.report, policy)?;
            check_tcb(&hit.report, hit.product, &hit.tcb, policy)?;
            check_measurement(&hit.report, policy)?;
            return Ok(hit);
        }
        let product = Vcek::parse(evidence.vcek)?.product;
        let collateral = self.collateral.collateral_for(product, now)?;
        let verified = Arc::new(verify_sev_evidence(
            &self.verifier,
            &collateral,
            evidence,
            now,
        )?);
        if let Some(cache) = &self.cache {
            let expires_at = collateral_expiry(evidence.vcek, &collateral, &verified);
            cache.insert(key, verified.clone(), now, expires_at);
        }
        Ok(verified)
    }
}

/// The earliest of the VCEK's notAfter and the product CRL's nextUpdate
/// (UNIX seconds); `u64::MAX` when neither is known.
fn collateral_expiry(vcek: &[u8], collateral: &SevCollateral, report: &VerifiedSnpReport) -> u64 {
    let to_u64 = |secs: i64| u64::try_from(secs).unwrap_or(0);
    let vcek_not_after = certificate_der(vcek).ok().and_then(|der| {
        X509Certificate::from_der(&der)
            .ok()
            .map(|(_, cert)| to_u64(cert.validity().not_after.timestamp()))
    });
    let crl_next_update = collateral
        .product(report.product)
        .and_then(|c| c.crl_der.as_deref())
        .and_then(|der| CertificateRevocationList::from_der(der).ok())
        .and_then(|(_, crl)| crl.next_update().map(|t| to_u64(t.timestamp())));
    [vcek_not_after, crl_next_update]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(u64::MAX)
}

/// The checks after verification (also run on router-vouched peers): report
/// data bound to `public_key`, then the policy's SEV measurement and image
/// hash allowlists. Returns the image hash.
pub fn check_sev_identity(
    policy: &str,
    config: &PolicyConfig,
    public_key: &[u8; 32],
    sev: &SevReport,
) -> Result<[u8; 32], AttestError> {
    if sev.report_data != expected_report_data(public_key) {
        return Err(AttestError::ReportDataMismatch);
    }
    let sev_lists_empty =
        config.sev_allowed_measurements.is_empty() && config.sev_allowed_image_hashes.is_empty();
    if sev_lists_empty && !config.allowed_image_hashes.is_empty() {
        return Err(AttestError::SevAllowlistMissing {
            policy: policy.to_owned(),
        });
    }
    if !config.sev_allowed_measurements.is_empty()
        && !config.sev_allowed_measurements.contains(&sev.measurement)
    {
        return Err(SevError::MeasurementNotAllowed {
            measurement: hex::encode(sev.measurement),
        }
        .into());
    }
    let image_hash = sev_image_hash(&sev.measurement);
    if !config.sev_allowed_image_hashes.is_empty()
        && !config.sev_allowed_image_hashes.contains(&image_hash)
    {
        return Err(AttestError::ImageHashNotAllowed {
            image_hash: hex::encode(image_hash),
        });
    }
    Ok(image_hash)
}

/// The identity of an admitted SNP guest.
pub fn sev_peer_identity(public_key: &[u8; 32], sev: SevReport) -> PeerIdentity {
    PeerIdentity {
        public_key: *public_key,
        tee: TeeKind::SevSnp,
        image_hash: sev_image_hash(&sev.measurement),
        tdx: None,
        root_key_id: None,
        sev: Some(sev),
    }
}
