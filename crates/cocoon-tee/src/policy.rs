//! Attestation policies: `any`, `fake` and `tdx` (reference names `any`,
//! `fake_tee`, `tee`; December names `fake_tdx`, `tdx`), implementing
//! [`AttestationPolicy`] with the reference's semantics (tee.md §5.1 as
//! changed in April 2026, delta §6.4):
//!
//! * A peer whose certificate has **no TEE extension** passes every policy
//!   whose image-hash allowlists are empty, as an unattested peer (image hash
//!   of all-zero measurements); otherwise it is refused. Set
//!   [`PolicyConfig::require_evidence`] to refuse it regardless (not in the
//!   reference).
//! * `any` ignores evidence; it refuses only when it has an image-hash
//!   allowlist it cannot check.
//! * `fake` accepts fake TEE quotes only ([`crate::fake`]); then the TDX
//!   checks below run on all-zero measurements.
//! * `tdx` verifies the quote with DCAP ([`crate::cache::CachedVerifier`]),
//!   then: report data = SHA-512(certificate key), MRTD, RTMR 4-tuple, image
//!   hash and root key id each on their allowlist (empty = any).
//!
//!   With SEV-SNP collateral ([`TdxPolicy::sev`]), SEV-SNP evidence is
//!   verified instead ([`crate::sev::admission`]): report-data extension and
//!   report bound to the key, VCEK → ASK → ARK with CRL, report signature,
//!   guest policy and TCB, then the SEV measurement and image-hash allowlists.
//!
//! Beyond the reference, debug TDs are refused unless
//! [`PolicyConfig::allow_debug`] (tee.md §15.1), SGX quotes are refused with an
//! error (the April reference aborts the process), and SEV-SNP evidence is
//! refused as unsupported by `fake` and by a `tdx` policy without SEV-SNP
//! collateral.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha512};

use crate::cache::CachedVerifier;
use crate::fake::{looks_fake, parse_fake_quote};
use crate::image_hash::{tdx_image_hash, ZERO_MEASUREMENTS_IMAGE_HASH};
use crate::quote::{ParsedQuote, QuoteBody, MAX_QUOTE_SIZE};
use crate::sev::{check_sev_identity, sev_peer_identity, SevEvidence, SevVerification};
use crate::{AttestError, AttestationPolicy, Evidence, PeerIdentity, TdxMeasurements, TeeKind};

/// The three policy types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    Any,
    Fake,
    Tdx,
}

impl PolicyKind {
    /// Parse a policy type: `any`; `fake`, `fake_tee`, `fake_tdx`; `tdx`, `tee`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "any" => Some(PolicyKind::Any),
            "fake" | "fake_tee" | "fake_tdx" => Some(PolicyKind::Fake),
            "tdx" | "tee" => Some(PolicyKind::Tdx),
            _ => None,
        }
    }

    /// Our name (`any`, `fake`, `tdx`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Any => "any",
            PolicyKind::Fake => "fake",
            PolicyKind::Tdx => "tdx",
        }
    }

    /// The April-2026 reference's name (`any`, `fake_tee`, `tee`).
    pub fn reference_name(self) -> &'static str {
        match self {
            PolicyKind::Any => "any",
            PolicyKind::Fake => "fake_tee",
            PolicyKind::Tdx => "tee",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Allowlists and switches of one policy. Empty allowlist = anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyConfig {
    pub allowed_mrtd: Vec<[u8; 48]>,
    /// Exact `[RTMR0, RTMR1, RTMR2, RTMR3]` tuples.
    pub allowed_rtmr: Vec<[[u8; 48]; 4]>,
    pub allowed_image_hashes: Vec<[u8; 32]>,
    /// Root key ids (the reference's `allowed_collateral_root_hashes`).
    pub allowed_root_key_ids: Vec<[u8; 48]>,
    /// SEV-SNP allowlists (router config `sev_config`), checked on SEV-SNP
    /// peers a `tdx` policy verified; a non-empty image-hash list also refuses
    /// unattested peers, as in the reference.
    pub sev_allowed_measurements: Vec<[u8; 48]>,
    pub sev_allowed_image_hashes: Vec<[u8; 32]>,
    /// Accept debug TDs (their memory is readable by the host). Default false.
    pub allow_debug: bool,
    /// Refuse peers without TEE evidence even when no image hash is required.
    pub require_evidence: bool,
}

/// The report data a peer's quote must carry: SHA-512 of its 32-byte key.
pub fn expected_report_data(public_key: &[u8; 32]) -> [u8; 64] {
    Sha512::digest(public_key).into()
}

fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The checks that follow quote verification (seam for tests): report data
/// bound to `public_key`, debug flag, MRTD, RTMRs, image hash and root key id
/// against `config`. Returns the image hash. `root_key_id` `None` (fake TEE)
/// is checked as all zero.
pub fn check_tdx_identity(
    config: &PolicyConfig,
    public_key: &[u8; 32],
    m: &TdxMeasurements,
    root_key_id: Option<&[u8; 48]>,
) -> Result<[u8; 32], AttestError> {
    if m.report_data != expected_report_data(public_key) {
        return Err(AttestError::ReportDataMismatch);
    }
    if m.debug && !config.allow_debug {
        return Err(AttestError::DebugTd {
            attributes: "TDATTRIBUTES.DEBUG set".into(),
        });
    }
    if !config.allowed_mrtd.is_empty() && !config.allowed_mrtd.contains(&m.mr_td) {
        return Err(AttestError::MrtdNotAllowed {
            mrtd: hex::encode(m.mr_td),
        });
    }
    if !config.allowed_rtmr.is_empty() && !config.allowed_rtmr.contains(&m.rtmr) {
        return Err(AttestError::RtmrNotAllowed {
            rtmr0: hex::encode(m.rtmr[0]),
        });
    }
    let image_hash = tdx_image_hash(m);
    if !config.allowed_image_hashes.is_empty() && !config.allowed_image_hashes.contains(&image_hash)
    {
        return Err(AttestError::ImageHashNotAllowed {
            image_hash: hex::encode(image_hash),
        });
    }
    let root = root_key_id.copied().unwrap_or([0; 48]);
    if !config.allowed_root_key_ids.is_empty() && !config.allowed_root_key_ids.contains(&root) {
        return Err(AttestError::RootKeyNotAllowed {
            root_key_id: hex::encode(root),
        });
    }
    Ok(image_hash)
}

/// Identity of a peer accepted without attestation.
fn unattested(public_key: &[u8; 32]) -> PeerIdentity {
    PeerIdentity {
        public_key: *public_key,
        tee: TeeKind::None,
        image_hash: ZERO_MEASUREMENTS_IMAGE_HASH,
        tdx: None,
        root_key_id: None,
        sev: None,
    }
}

/// The "no extensions" rule (delta §6.4).
fn accept_without_evidence(
    name: &str,
    config: &PolicyConfig,
    public_key: &[u8; 32],
) -> Result<PeerIdentity, AttestError> {
    if config.require_evidence {
        return Err(AttestError::QuoteMissing {
            policy: name.to_owned(),
        });
    }
    if !config.allowed_image_hashes.is_empty() || !config.sev_allowed_image_hashes.is_empty() {
        return Err(AttestError::ImageHashRequiresAttestation {
            policy: name.to_owned(),
        });
    }
    Ok(unattested(public_key))
}

/// Evidence common to every policy: conflicting or absent evidence.
enum Offered<'a> {
    Nothing,
    Tdx(&'a [u8]),
    /// The report, and the report-data and VCEK extensions when present.
    Sev {
        report: &'a [u8],
        report_data: Option<&'a [u8]>,
        vcek: Option<&'a [u8]>,
    },
}

fn offered<'a>(evidence: &Evidence<'a>) -> Result<Offered<'a>, AttestError> {
    let sev_any = evidence.sev_report.is_some()
        || evidence.sev_report_data.is_some()
        || evidence.sev_vcek.is_some();
    match (evidence.tdx_quote, evidence.sev_report) {
        (Some(_), _) if sev_any => Err(AttestError::ConflictingEvidence),
        (Some(quote), _) => Ok(Offered::Tdx(quote)),
        (None, Some(report)) => Ok(Offered::Sev {
            report,
            report_data: evidence.sev_report_data,
            vcek: evidence.sev_vcek,
        }),
        (None, None) if sev_any => Err(AttestError::malformed(
            "SEV-SNP evidence without the attestation report extension",
        )),
        (None, None) => Ok(Offered::Nothing),
    }
}

/// `any`: no attestation.
#[derive(Debug, Clone)]
pub struct AnyPolicy {
    pub name: String,
    pub config: PolicyConfig,
}

impl AttestationPolicy for AnyPolicy {
    fn verify(
        &self,
        evidence: &Evidence<'_>,
        _now: SystemTime,
    ) -> Result<PeerIdentity, AttestError> {
        let image_hashes_required = match offered(evidence)? {
            Offered::Nothing => {
                return accept_without_evidence(&self.name, &self.config, evidence.public_key)
            }
            Offered::Tdx(_) => !self.config.allowed_image_hashes.is_empty(),
            Offered::Sev { .. } => !self.config.sev_allowed_image_hashes.is_empty(),
        };
        if image_hashes_required {
            return Err(AttestError::ImageHashRequiresAttestation {
                policy: self.name.clone(),
            });
        }
        Ok(unattested(evidence.public_key))
    }
}

/// `fake`: the simulated TEE (never evidence of anything).
#[derive(Debug, Clone)]
pub struct FakePolicy {
    pub name: String,
    pub config: PolicyConfig,
}

impl AttestationPolicy for FakePolicy {
    fn verify(
        &self,
        evidence: &Evidence<'_>,
        _now: SystemTime,
    ) -> Result<PeerIdentity, AttestError> {
        let quote = match offered(evidence)? {
            Offered::Nothing => {
                return accept_without_evidence(&self.name, &self.config, evidence.public_key)
            }
            Offered::Sev { .. } => {
                return Err(AttestError::SevSnpUnsupported {
                    policy: self.name.clone(),
                })
            }
            Offered::Tdx(quote) => quote,
        };
        if quote.len() > MAX_QUOTE_SIZE {
            return Err(AttestError::QuoteTooLarge {
                size: quote.len(),
                max: MAX_QUOTE_SIZE,
            });
        }
        let measurements = parse_fake_quote(quote)?;
        let image_hash =
            check_tdx_identity(&self.config, evidence.public_key, &measurements, None)?;
        Ok(PeerIdentity {
            public_key: *evidence.public_key,
            tee: TeeKind::Fake,
            image_hash,
            tdx: Some(measurements),
            root_key_id: None,
            sev: None,
        })
    }
}

/// `tdx` (reference `tee`): a real TDX quote, verified with DCAP, or, when
/// SEV-SNP collateral is configured, a SEV-SNP report.
#[derive(Debug, Clone)]
pub struct TdxPolicy {
    pub name: String,
    pub config: PolicyConfig,
    pub verification: CachedVerifier,
    /// SEV-SNP verification; `None` refuses SEV-SNP evidence as unsupported.
    pub sev: Option<SevVerification>,
}

impl TdxPolicy {
    /// Verify SEV-SNP evidence and apply the SEV allowlists.
    fn verify_sev(
        &self,
        public_key: &[u8; 32],
        report: &[u8],
        report_data: Option<&[u8]>,
        vcek: Option<&[u8]>,
        now: SystemTime,
    ) -> Result<PeerIdentity, AttestError> {
        let Some(verification) = &self.sev else {
            return Err(AttestError::SevSnpUnsupported {
                policy: self.name.clone(),
            });
        };
        let missing = |what: &str| AttestError::malformed(format!("SEV-SNP evidence lacks {what}"));
        let evidence = SevEvidence {
            public_key,
            report_data_extension: report_data
                .ok_or_else(|| missing("the report-data extension"))?,
            report,
            vcek: vcek.ok_or_else(|| missing("the VCEK extension"))?,
        };
        let verified = verification.verify(&evidence, unix_seconds(now))?;
        let sev = verified.peer_report();
        check_sev_identity(&self.name, &self.config, public_key, &sev)?;
        Ok(sev_peer_identity(public_key, sev))
    }
}

impl AttestationPolicy for TdxPolicy {
    fn verify(
        &self,
        evidence: &Evidence<'_>,
        now: SystemTime,
    ) -> Result<PeerIdentity, AttestError> {
        let quote = match offered(evidence)? {
            Offered::Nothing => {
                return accept_without_evidence(&self.name, &self.config, evidence.public_key)
            }
            Offered::Sev {
                report,
                report_data,
                vcek,
            } => return self.verify_sev(evidence.public_key, report, report_data, vcek, now),
            Offered::Tdx(quote) => quote,
        };
        if quote.len() > MAX_QUOTE_SIZE {
            return Err(AttestError::QuoteTooLarge {
                size: quote.len(),
                max: MAX_QUOTE_SIZE,
            });
        }
        if looks_fake(quote) && parse_fake_quote(quote).is_ok() {
            return Err(AttestError::FakeQuoteRejected {
                policy: self.name.clone(),
            });
        }
        if let QuoteBody::Sgx(_) = ParsedQuote::parse(quote)?.body {
            return Err(AttestError::SgxQuoteRejected);
        }
        let report = self.verification.verify(quote, unix_seconds(now))?;
        let measurements = report
            .quote
            .tdx_measurements()
            .ok_or(AttestError::SgxQuoteRejected)?;
        let image_hash = check_tdx_identity(
            &self.config,
            evidence.public_key,
            &measurements,
            Some(&report.root_key_id),
        )?;
        Ok(PeerIdentity {
            public_key: *evidence.public_key,
            tee: TeeKind::Tdx,
            image_hash,
            tdx: Some(measurements),
            root_key_id: Some(report.root_key_id),
            sev: None,
        })
    }
}
