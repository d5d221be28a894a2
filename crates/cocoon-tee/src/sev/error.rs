//! Why an AMD SEV-SNP attestation report (or its collateral) was refused:
//! one variant per rejection, so a log line says exactly which check failed.

/// Which certificate of the VCEK → ASK → ARK chain a chain error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainLink {
    /// AMD Root Key (self-signed, pinned).
    Ark,
    /// AMD SEV Key (signed by the ARK).
    Ask,
    /// Versioned Chip Endorsement Key (signed by the ASK; signs the report).
    Vcek,
}

impl std::fmt::Display for ChainLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChainLink::Ark => "ARK",
            ChainLink::Ask => "ASK",
            ChainLink::Vcek => "VCEK",
        })
    }
}

/// A refused SEV-SNP report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SevError {
    // --- the report bytes ---
    #[error("SEV-SNP report has {len} bytes, an ATTESTATION_REPORT has exactly {expected}")]
    ReportSize { len: usize, expected: usize },
    #[error("SEV-SNP report version {version} is not supported (2..=5 are)")]
    UnsupportedVersion { version: u32 },
    #[error("SEV-SNP report signature algorithm {algo} is not ECDSA P-384/SHA-384 (1)")]
    UnsupportedSignatureAlgorithm { algo: u32 },
    #[error("SEV-SNP report is signed by key {signing_key} (0 = VCEK, 1 = VLEK); only VCEK-signed reports are accepted")]
    NotSignedByVcek { signing_key: u32 },
    #[error("SEV-SNP report masks its chip id, so it cannot be tied to the VCEK")]
    ChipIdMasked,

    // --- the VCEK and its chain ---
    #[error("VCEK certificate malformed: {reason}")]
    VcekMalformed { reason: String },
    #[error("VCEK product {name:?} is not Milan, Genoa or Turin")]
    UnknownProduct { name: String },
    #[error("report CPU (family {family:#x}, model {model:#x}) is not a {vcek_product} as the VCEK says")]
    ProductMismatch {
        vcek_product: String,
        family: u8,
        model: u8,
    },
    #[error("SEV-SNP collateral for {product} lacks {what}")]
    CollateralMissing { product: String, what: String },
    #[error("SEV-SNP collateral unavailable: {detail}")]
    CollateralUnavailable { detail: String },
    #[error("SEV-SNP collateral malformed: {reason}")]
    CollateralMalformed { reason: String },
    #[error("{product} ARK in the collateral is not AMD's pinned root key")]
    ArkNotPinned { product: String },
    #[error("{link} certificate is not signed by its issuer in the {product} chain: {detail}")]
    ChainSignatureInvalid {
        link: ChainLink,
        product: String,
        detail: String,
    },
    #[error("{link} certificate not valid at {now}: valid from {not_before} to {not_after}")]
    CertificateExpired {
        link: ChainLink,
        not_before: i64,
        not_after: i64,
        now: u64,
    },
    #[error("{product} CRL invalid: {detail}")]
    CrlInvalid { product: String, detail: String },
    #[error("{product} CRL not current at {now}: issued {this_update}, next update {next_update}")]
    CrlOutdated {
        product: String,
        this_update: i64,
        next_update: i64,
        now: u64,
    },
    #[error("{link} certificate (serial {serial}) is revoked by the {product} CRL")]
    Revoked {
        link: ChainLink,
        product: String,
        serial: String,
    },
    #[error("VCEK hwID {hw_id} is not the report's chip id {chip_id}")]
    HwIdMismatch { hw_id: String, chip_id: String },

    // --- the report's signature and binding ---
    #[error("SEV-SNP report signature does not verify with the VCEK key")]
    SignatureInvalid,
    #[error("SEV-SNP report data mismatch: the report is not bound to the expected key")]
    ReportDataMismatch,
    #[error("SEV report-data certificate extension is not SHA-512 of the certificate key")]
    ReportDataExtensionMismatch,

    // --- guest policy and TCB ---
    #[error("SEV-SNP guest policy {policy:#x} allows debugging, so the host can read the guest's memory")]
    DebugPolicy { policy: u64 },
    #[error("SEV-SNP guest policy {policy:#x} allows a migration agent, which can export the guest's memory")]
    MigrationAgentPolicy { policy: u64 },
    #[error("SEV-SNP report is from VMPL {vmpl}; only VMPL 0 reports attest the whole guest")]
    VmplNotZero { vmpl: u32 },
    #[error("reported TCB {component} SPL {report} differs from the VCEK's {vcek}: the VCEK is for another TCB")]
    TcbMismatch {
        component: &'static str,
        report: u8,
        vcek: u8,
    },
    #[error("reported TCB {component} SPL {report} is below the policy minimum {minimum}")]
    TcbBelowMinimum {
        component: &'static str,
        report: u8,
        minimum: u8,
    },
    #[error("SEV-SNP measurement not in policy allowlist: {measurement}")]
    MeasurementNotAllowed { measurement: String },
}
