//! What an attested link tells the application about its peer, and the two
//! seams between quote handling and the TLS layer: [`AttestationPolicy`]
//! (verify a peer's evidence) and [`QuoteProvider`] (produce our own quote).

use std::fmt;
use std::time::SystemTime;

/// The kind of trusted execution environment a peer proved (or did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeeKind {
    /// No attestation at all (the `any` policy).
    None,
    /// The reference's simulated TEE: a 64-byte "quote" that is only the report
    /// data. Never evidence of anything; accepted only by the `fake` policy.
    Fake,
    /// Intel TDX, verified through DCAP.
    Tdx,
    /// Intel SGX (parsed; never accepted as a COCOON peer).
    Sgx,
    /// AMD SEV-SNP.
    SevSnp,
}

impl TeeKind {
    /// Name shown to users and used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            TeeKind::None => "none",
            TeeKind::Fake => "fake",
            TeeKind::Tdx => "tdx",
            TeeKind::Sgx => "sgx",
            TeeKind::SevSnp => "sev-snp",
        }
    }
}

impl fmt::Display for TeeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TDX measurements of a verified (or fake) TD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxMeasurements {
    pub mr_td: [u8; 48],
    pub mr_config_id: [u8; 48],
    pub mr_owner: [u8; 48],
    pub mr_owner_config: [u8; 48],
    pub rtmr: [[u8; 48]; 4],
    pub report_data: [u8; 64],
    /// TDATTRIBUTES.DEBUG: the TD's memory is readable by the host.
    pub debug: bool,
}

impl TdxMeasurements {
    /// All measurements zero, no report data: what the reference reports for
    /// a peer accepted without attestation (and, with report data set, for a
    /// fake TEE).
    pub fn zeroed() -> Self {
        TdxMeasurements {
            mr_td: [0; 48],
            mr_config_id: [0; 48],
            mr_owner: [0; 48],
            mr_owner_config: [0; 48],
            rtmr: [[0; 48]; 4],
            report_data: [0; 64],
            debug: false,
        }
    }
}

/// The verified identity of a peer, handed to the application after the
/// TLS handshake succeeded and the policy accepted the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The peer's Ed25519 certificate key (32 raw bytes).
    pub public_key: [u8; 32],
    pub tee: TeeKind,
    /// The image hash compared against the root contract's allowlists. A peer
    /// accepted without attestation gets the image hash of all-zero
    /// measurements (`5c55c8f4…4b61`), as the April-2026 reference reports it.
    pub image_hash: [u8; 32],
    /// TDX measurements when the peer is a (fake or real) TD.
    pub tdx: Option<TdxMeasurements>,
    /// Intel root key id (SHA-384 of the root CA key) the quote chained to, when verified.
    pub root_key_id: Option<[u8; 48]>,
    /// SEV-SNP launch measurement and report data when the peer is an SNP guest.
    pub sev: Option<crate::peer_info::SevReport>,
}

/// What a peer's certificate offers as evidence.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The certificate's Ed25519 key (claims are rebuilt from it, as the reference does).
    pub public_key: &'a [u8; 32],
    /// The raw quote from the certificate's TDX quote extension, if present.
    pub tdx_quote: Option<&'a [u8]>,
    /// The raw SEV-SNP report from the certificate's SEV extension, if present.
    pub sev_report: Option<&'a [u8]>,
    /// The SEV report-data extension (SHA-512 of the key), if present.
    pub sev_report_data: Option<&'a [u8]>,
    /// The SEV VCEK extension (PEM or DER certificate), if present.
    pub sev_vcek: Option<&'a [u8]>,
}

/// Decides whether a peer's evidence is acceptable. Implemented by the
/// policies in [`crate::policy`]; called by the RA-TLS verifiers.
pub trait AttestationPolicy: Send + Sync + fmt::Debug {
    /// Verify `evidence` as of `now`, returning the peer's identity.
    fn verify(
        &self,
        evidence: &Evidence<'_>,
        now: SystemTime,
    ) -> Result<PeerIdentity, crate::AttestError>;
}

/// Produces quotes for our own certificates.
pub trait QuoteProvider: Send + Sync + fmt::Debug {
    fn kind(&self) -> TeeKind;
    /// A quote whose REPORTDATA is `report_data` (SHA-512 of our certificate key).
    fn quote(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, crate::AttestError>;
}
