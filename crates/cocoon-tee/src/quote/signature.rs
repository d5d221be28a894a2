//! The signature section of a DCAP quote: the ECDSA signature over header and
//! body, the attestation key, the QE report that certifies that key, and the
//! PCK certificate chain that certifies the QE. Parsed only as far as COCOON
//! needs it (to find the PCK chain, e.g. for fetching collateral); the
//! cryptographic checks are dcap-qvl's job.

use super::body::SgxReportBody;
use super::reader::Reader;
use crate::AttestError;

/// Certification data type 5: PCK leaf cert ‖ intermediate CA ‖ root CA, PEM.
pub const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// Certification data type 6: QE report certification data (wraps a type 5).
pub const CERT_TYPE_QE_REPORT: u16 = 6;

/// Upper bound on the PEM certificates read from a PCK chain.
const MAX_CHAIN_CERTS: usize = 8;

/// Certification data: a type tag and its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificationData {
    pub cert_type: u16,
    pub data: Vec<u8>,
}

/// The parsed signature section of a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteSignature {
    /// ECDSA P-256 signature (r ‖ s) over header ‖ body.
    pub ecdsa_signature: [u8; 64],
    /// The attestation key (x ‖ y).
    pub attestation_key: [u8; 64],
    /// The quoting enclave's report, certifying the attestation key.
    pub qe_report: SgxReportBody,
    pub qe_report_signature: [u8; 64],
    pub qe_auth_data: Vec<u8>,
    /// The innermost certification data (type 5 = PEM PCK chain in practice).
    pub certification: CertificationData,
}

impl QuoteSignature {
    /// Parse a v4/v5 signature section (certification data type 6 wrapping
    /// the QE report), or, with `sgx_v3`, the flat v3 layout.
    pub(crate) fn parse(bytes: &[u8], sgx_v3: bool) -> Result<Self, AttestError> {
        let mut r = Reader::new(bytes);
        let ecdsa_signature = r.array("ECDSA signature")?;
        let attestation_key = r.array("attestation key")?;
        let mut qe_section = if sgx_v3 {
            Reader::new(bytes.get(r.position()..).unwrap_or(&[]))
        } else {
            let outer_type = r.u16("certification data type")?;
            let outer_len = r.u32("certification data size")? as usize;
            let outer = r.take(outer_len, "certification data")?;
            if outer_type != CERT_TYPE_QE_REPORT {
                return Err(AttestError::QuoteUnsupported {
                    reason: format!("certification data type {outer_type}, expected {CERT_TYPE_QE_REPORT} (QE report)"),
                });
            }
            Reader::new(outer)
        };
        let r = &mut qe_section;
        let qe_report = SgxReportBody::read(r)?;
        let qe_report_signature = r.array("QE report signature")?;
        let auth_len = r.u16("QE auth data size")? as usize;
        let qe_auth_data = r.take(auth_len, "QE auth data")?.to_vec();
        let cert_type = r.u16("PCK certification data type")?;
        let cert_len = r.u32("PCK certification data size")? as usize;
        let data = r.take(cert_len, "PCK certification data")?.to_vec();
        Ok(QuoteSignature {
            ecdsa_signature,
            attestation_key,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            certification: CertificationData { cert_type, data },
        })
    }

    /// The PCK certificate chain (leaf first) as DER, when the quote embeds it
    /// (certification data type 5).
    pub fn pck_chain_der(&self) -> Result<Vec<Vec<u8>>, AttestError> {
        if self.certification.cert_type != CERT_TYPE_PCK_CHAIN {
            return Err(AttestError::QuoteUnsupported {
                reason: format!(
                    "PCK certification data type {} (only type {CERT_TYPE_PCK_CHAIN}, an embedded PEM chain, is supported)",
                    self.certification.cert_type
                ),
            });
        }
        pem_certificates(&self.certification.data)
    }
}

/// DER certificates of every `CERTIFICATE` block in a PEM text (trailing NUL
/// padding tolerated), at most [`MAX_CHAIN_CERTS`].
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, AttestError> {
    let end = pem.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let text = pem.get(..end).unwrap_or(&[]);
    let mut certs = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(text) {
        let block =
            block.map_err(|e| AttestError::malformed(format!("PEM certificate chain: {e}")))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        if certs.len() == MAX_CHAIN_CERTS {
            return Err(AttestError::malformed(format!(
                "PEM certificate chain has more than {MAX_CHAIN_CERTS} certificates"
            )));
        }
        certs.push(block.contents);
    }
    if certs.is_empty() {
        return Err(AttestError::malformed(
            "PEM certificate chain contains no certificate",
        ));
    }
    Ok(certs)
}
