//! Attestation errors. Every variant names what was wrong, so an operator
//! reading a log line knows why a peer was refused.

/// Why a quote or a peer's evidence was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    #[error("quote missing: policy {policy} requires attestation")]
    QuoteMissing { policy: String },
    #[error("{0}")]
    Other(String),
}
