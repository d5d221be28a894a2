//! Intel DCAP quote verification with dcap-qvl, offline against collateral
//! (a file in dcap-qvl's JSON format, or fetched from a PCCS/PCS), at a given
//! UNIX time.
//!
//! Acceptance mirrors the reference (tee.md §4.3) and closes its gaps:
//! * the signature chain (quote → attestation key → QE report → PCK chain →
//!   Intel root, with CRLs) and the collateral's signatures and dates verify;
//! * the TCB status is `UpToDate` (others are errors naming the status);
//! * the root key id (SHA-384 of the root CA's `0x04‖X‖Y` key) is on the
//!   allowlist (default: Intel's SGX root, as the reference's router);
//! * debug or profiling TDs are rejected unless `allow_debug` (the reference
//!   accepts them: tee.md §15.1). dcap-qvl additionally rejects migratable
//!   TDs, reserved TD attribute bits and TDs without SEPT_VE_DISABLE.

mod collateral;
mod pccs;
mod pccs_text;

pub use collateral::{parse_rfc3339_utc, Collateral, CollateralSource, FixedCollateral};
pub use pccs::{
    fetch_collateral, fetch_collateral_blocking, PccsCollateral, PlatformId, INTEL_PCS_URL,
    INTEL_ROOT_CA_CRL_URL,
};

use sha2::{Digest, Sha384};

use crate::quote::{ParsedQuote, QuoteBody, MAX_QUOTE_SIZE, TD_ATTR_DEBUG, TD_ATTR_PROFILING_MASK};
use crate::AttestError;

/// Root key id of the Intel SGX Root CA: SHA-384 of its uncompressed P-256
/// public key. The reference router's default allowlist.
pub const INTEL_ROOT_KEY_ID: [u8; 48] = [
    0x46, 0xe4, 0x03, 0xbd, 0x34, 0xf0, 0x5a, 0x3f, 0x28, 0x17, 0xab, 0x9b, 0xad, 0xca, 0xac, 0xc7,
    0xff, 0xc9, 0x8e, 0x0f, 0x26, 0x10, 0x08, 0xcd, 0x30, 0xda, 0xe9, 0x36, 0xca, 0xce, 0x18, 0xd5,
    0xdc, 0xf5, 0x8e, 0xef, 0x31, 0x46, 0x36, 0x13, 0xde, 0x15, 0x70, 0xd5, 0x16, 0x20, 0x09, 0x93,
];

/// A quote whose signatures chain to the trusted root under the collateral,
/// with dcap-qvl's TCB verdict. Produced by [`DcapVerifier::check_signatures`];
/// [`DcapVerifier::appraise`] decides whether it is acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcapReport {
    pub quote: ParsedQuote,
    /// TCB status as Intel names it (`UpToDate`, `OutOfDate`, …).
    pub tcb_status: String,
    pub advisory_ids: Vec<String>,
    /// SHA-384 of the root CA public key the chain ends in.
    pub root_key_id: [u8; 48],
    /// UNIX time at which the first piece of collateral expires.
    pub collateral_expires_at: u64,
}

/// Verifies quotes with dcap-qvl and appraises the result.
#[derive(Debug, Clone)]
pub struct DcapVerifier {
    /// Trusted root CA (DER); `None` = Intel's SGX root CA (embedded in dcap-qvl).
    root_ca_der: Option<Vec<u8>>,
    allowed_root_key_ids: Vec<[u8; 48]>,
    allow_debug: bool,
}

impl Default for DcapVerifier {
    fn default() -> Self {
        DcapVerifier {
            root_ca_der: None,
            allowed_root_key_ids: vec![INTEL_ROOT_KEY_ID],
            allow_debug: false,
        }
    }
}

impl DcapVerifier {
    /// Intel's root CA, root key allowlist `[INTEL_ROOT_KEY_ID]`, debug TDs rejected.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust a different root CA (DER). Its key id must also be allowed.
    pub fn with_root_ca(mut self, root_ca_der: Vec<u8>) -> Self {
        self.root_ca_der = Some(root_ca_der);
        self
    }

    /// Replace the root key id allowlist (the reference's `--collateral-hash`).
    /// Empty = any root the verifier trusts.
    pub fn with_allowed_root_key_ids(mut self, ids: Vec<[u8; 48]>) -> Self {
        self.allowed_root_key_ids = ids;
        self
    }

    /// Accept debug/profiling TDs (development only: their memory is readable).
    pub fn allow_debug(mut self, allow: bool) -> Self {
        self.allow_debug = allow;
        self
    }

    pub fn allowed_root_key_ids(&self) -> &[[u8; 48]] {
        &self.allowed_root_key_ids
    }

    pub fn allows_debug(&self) -> bool {
        self.allow_debug
    }

    /// Verify and appraise: the whole acceptance decision for a raw quote.
    pub fn verify(
        &self,
        raw_quote: &[u8],
        collateral: &Collateral,
        now: u64,
    ) -> Result<DcapReport, AttestError> {
        let report = self.check_signatures(raw_quote, collateral, now)?;
        self.appraise(&report, now)?;
        Ok(report)
    }

    /// The cryptographic part: parse, check every signature, CRL and date,
    /// and compute the TCB status. Does not judge status, root or debug flag,
    /// so its result may be cached and re-appraised.
    pub fn check_signatures(
        &self,
        raw_quote: &[u8],
        collateral: &Collateral,
        now: u64,
    ) -> Result<DcapReport, AttestError> {
        if raw_quote.len() > MAX_QUOTE_SIZE {
            return Err(AttestError::QuoteTooLarge {
                size: raw_quote.len(),
                max: MAX_QUOTE_SIZE,
            });
        }
        let quote = ParsedQuote::parse(raw_quote)?;
        let verifier = match &self.root_ca_der {
            Some(der) => dcap_qvl::verify::QuoteVerifier::new(der.clone()),
            None => dcap_qvl::verify::QuoteVerifier::new_prod(),
        };
        // Debug/profiling is judged in `appraise` so the result is the same
        // whatever this verifier's `allow_debug`.
        let claims = verifier
            .allow_debug(true)
            .verify_with_policy(
                raw_quote,
                collateral.inner(),
                now,
                &dcap_qvl::QuotePolicy::claims_only(now),
            )
            .map_err(|e| classify_dcap_error(format!("{e:#}")))?;
        let root_key_id: [u8; 48] =
            claims
                .platform
                .root_key_id
                .as_slice()
                .try_into()
                .map_err(|_| AttestError::DcapFailed {
                    detail: "root key id is not 48 bytes".into(),
                })?;
        Ok(DcapReport {
            quote,
            tcb_status: claims.tcb.status.to_string(),
            advisory_ids: claims.tcb.advisory_ids,
            root_key_id,
            collateral_expires_at: claims.earliest_expiration_date,
        })
    }

    /// The judgement: TCB status `UpToDate`, collateral unexpired at `now`,
    /// root key allowed, no debug/profiling unless allowed.
    pub fn appraise(&self, report: &DcapReport, now: u64) -> Result<(), AttestError> {
        if report.tcb_status != "UpToDate" {
            return Err(AttestError::TcbNotUpToDate {
                status: report.tcb_status.clone(),
                advisory_ids: report.advisory_ids.clone(),
            });
        }
        if now > report.collateral_expires_at {
            return Err(AttestError::CollateralExpired {
                detail: format!(
                    "collateral expired at {}, now is {now}",
                    report.collateral_expires_at
                ),
            });
        }
        check_root_key(&report.root_key_id, &self.allowed_root_key_ids)?;
        check_debug(&report.quote, self.allow_debug)
    }
}

/// `root_key_id` must be in `allowed` (empty = any).
pub fn check_root_key(root_key_id: &[u8; 48], allowed: &[[u8; 48]]) -> Result<(), AttestError> {
    if allowed.is_empty() || allowed.contains(root_key_id) {
        Ok(())
    } else {
        Err(AttestError::RootKeyNotAllowed {
            root_key_id: hex::encode(root_key_id),
        })
    }
}

/// Reject debug (and, for TDs, profiling) quotes unless `allow_debug`.
pub fn check_debug(quote: &ParsedQuote, allow_debug: bool) -> Result<(), AttestError> {
    if allow_debug {
        return Ok(());
    }
    let (flagged, attributes) = match &quote.body {
        QuoteBody::Td(td) => (
            td.td_attributes_u64() & (TD_ATTR_DEBUG | TD_ATTR_PROFILING_MASK) != 0,
            hex::encode(td.td_attributes),
        ),
        QuoteBody::Sgx(sgx) => (sgx.is_debug(), hex::encode(sgx.attributes)),
    };
    if flagged {
        Err(AttestError::DebugTd { attributes })
    } else {
        Ok(())
    }
}

/// Root key id of a root CA certificate (DER): SHA-384 of the raw subject
/// public key bits (`0x04‖X‖Y` for Intel's P-256 root).
pub fn root_key_id_of_cert(cert_der: &[u8]) -> Result<[u8; 48], AttestError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| AttestError::DcapFailed {
            detail: format!("root CA certificate: {e}"),
        })?;
    Ok(Sha384::digest(cert.public_key().subject_public_key.data.as_ref()).into())
}

/// Map a dcap-qvl error to the variant that says what failed.
fn classify_dcap_error(detail: String) -> AttestError {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("failed to decode quote") {
        AttestError::QuoteMalformed { reason: detail }
    } else if lower.contains("no matching tcb level") || lower.contains("is below minimum") {
        // The platform (or QE, or TDX module) is older than every TCB level
        // the collateral lists; Intel's QVL reports this as TCB_NOT_SUPPORTED.
        AttestError::TcbNotUpToDate {
            status: "NotSupported".into(),
            advisory_ids: Vec::new(),
        }
    } else if lower.contains("tcb status is invalid: revoked") {
        AttestError::TcbNotUpToDate {
            status: "Revoked".into(),
            advisory_ids: Vec::new(),
        }
    } else if lower.contains("signature")
        && (lower.contains("invalid") || lower.contains("mismatch"))
        || lower.contains("qe report hash mismatch")
        || lower.contains("badsignature")
    {
        AttestError::SignatureInvalid { detail }
    } else if lower.contains("expired")
        || lower.contains("in the future")
        || lower.contains("notvalidyet")
    {
        AttestError::CollateralExpired { detail }
    } else {
        AttestError::DcapFailed { detail }
    }
}
