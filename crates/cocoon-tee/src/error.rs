//! Attestation errors. Every variant names what was wrong, so an operator
//! reading a log line knows why a peer (or a quote) was refused.

/// Why a quote or a peer's evidence was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    #[error("quote missing: policy {policy} requires attestation")]
    QuoteMissing { policy: String },

    // --- the quote itself ---
    #[error("quote too large: {size} bytes, at most {max} accepted")]
    QuoteTooLarge { size: usize, max: usize },
    #[error("malformed quote: {reason}")]
    QuoteMalformed { reason: String },
    #[error("unsupported quote: {reason}")]
    QuoteUnsupported { reason: String },

    // --- DCAP verification ---
    #[error("quote signature invalid: {detail}")]
    SignatureInvalid { detail: String },
    #[error("TCB status is {status}, only UpToDate is accepted{}", advisories_suffix(.advisory_ids))]
    TcbNotUpToDate {
        status: String,
        advisory_ids: Vec<String>,
    },
    #[error("collateral expired or not yet valid: {detail}")]
    CollateralExpired { detail: String },
    #[error("collateral unavailable: {detail}")]
    CollateralUnavailable { detail: String },
    #[error("DCAP quote verification failed: {detail}")]
    DcapFailed { detail: String },

    // --- policy checks ---
    #[error("report data mismatch: the quote is not bound to the certificate key (REPORTDATA != SHA-512(key))")]
    ReportDataMismatch,
    #[error("MRTD not in policy allowlist: {mrtd}")]
    MrtdNotAllowed { mrtd: String },
    #[error("RTMR set not in policy allowlist (RTMR0 {rtmr0})")]
    RtmrNotAllowed { rtmr0: String },
    #[error("image hash not in policy allowlist: {image_hash}")]
    ImageHashNotAllowed { image_hash: String },
    #[error("Intel root key id not allowed: {root_key_id}")]
    RootKeyNotAllowed { root_key_id: String },
    #[error("debug TD rejected: attributes {attributes} enable debug or profiling, so the host can read its memory")]
    DebugTd { attributes: String },
    #[error("fake TEE quote rejected: policy {policy} requires a real TDX quote")]
    FakeQuoteRejected { policy: String },
    #[error("not a fake TEE quote ({len} bytes): the fake policy accepts only 64-byte fake quotes (or the 496-byte fake report)")]
    NotAFakeQuote { len: usize },
    #[error("fake TEE report rejected: its measurements are not all zero")]
    FakeReportNotZero,
    #[error("SGX quote rejected: a COCOON peer must be a TDX TD")]
    SgxQuoteRejected,
    #[error("AMD SEV-SNP evidence is not accepted by policy {policy} (only a tdx/tee policy with SEV-SNP collateral, --sev-pki, verifies it)")]
    SevSnpUnsupported { policy: String },
    #[error("policy {policy} pins TDX image hashes but has no SEV-SNP allowlist (sev_config), so a SEV-SNP peer cannot be checked against it")]
    SevAllowlistMissing { policy: String },
    #[error("SEV-SNP evidence rejected: {0}")]
    SevSnp(#[from] crate::sev::SevError),
    #[error("TDX and SEV-SNP evidence are mutually exclusive")]
    ConflictingEvidence,
    #[error(
        "policy {policy} has an image-hash allowlist but the peer offers no verifiable attestation"
    )]
    ImageHashRequiresAttestation { policy: String },

    // --- our own quotes ---
    #[error("quote generation failed: {detail}")]
    QuoteGeneration { detail: String },

    // --- configuration ---
    #[error("invalid policy configuration at {field}: {reason}")]
    InvalidConfig { field: String, reason: String },

    #[error("{0}")]
    Other(String),
}

fn advisories_suffix(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(" (advisories: {})", ids.join(", "))
    }
}

impl AttestError {
    /// Shorthand for [`AttestError::QuoteMalformed`].
    pub fn malformed(reason: impl Into<String>) -> Self {
        AttestError::QuoteMalformed {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`AttestError::InvalidConfig`].
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AttestError::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
