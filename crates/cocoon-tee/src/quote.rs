//! DCAP quote parsing: TDX v4 and v5 quotes (TD 1.0 and TD 1.5 bodies) and
//! SGX v3 quotes. Header, report body and signature section are read with
//! bounds checks; every parse returns `Result` and never panics on hostile
//! bytes. Parsing proves nothing: [`crate::dcap`] verifies the signatures.
//!
//! Layout (tee.md §4.1): a 48-byte header (`version`, `att_key_type`,
//! `tee_type`, 4 reserved/SVN bytes, QE vendor id, user data); for v3/v4 the
//! body follows directly (SGX 384 bytes, TD 1.0 584 bytes); v5 inserts
//! `u16 body_type, u32 body_size` first (1 = SGX, 2 = TD 1.0, 3 = TD 1.5).
//! Then `u32` signature-data length and the signature data. Trailing bytes
//! after the signature data (generator padding) are tolerated.

mod body;
mod reader;
mod signature;

pub use body::{
    SgxReportBody, Td15Extension, TdReportBody, SGX_ATTR_DEBUG, SGX_BODY_LEN, TD10_BODY_LEN,
    TD15_BODY_LEN, TD_ATTR_DEBUG, TD_ATTR_PROFILING_MASK, TD_ATTR_SEPT_VE_DISABLE,
};
pub use signature::{
    pem_certificates, CertificationData, QuoteSignature, CERT_TYPE_PCK_CHAIN, CERT_TYPE_QE_REPORT,
};

use crate::{AttestError, TdxMeasurements, TeeKind};
use reader::Reader;

/// Largest quote accepted anywhere (the reference's cap on the certificate's
/// quote extension: 32 KiB).
pub const MAX_QUOTE_SIZE: usize = 32 * 1024;
/// Size of the quote header.
pub const HEADER_LEN: usize = 48;
/// `tee_type` of an SGX quote.
pub const TEE_TYPE_SGX: u32 = 0x0000_0000;
/// `tee_type` of a TDX quote.
pub const TEE_TYPE_TDX: u32 = 0x0000_0081;
/// `att_key_type` 2: ECDSA-256 with P-256.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// Intel's QE vendor id.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];

/// The 48-byte quote header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteHeader {
    pub version: u16,
    pub att_key_type: u16,
    pub tee_type: u32,
    /// Reserved in TDX quotes; QE SVN and PCE SVN in SGX quotes.
    pub reserved: [u8; 4],
    pub qe_vendor_id: [u8; 16],
    pub user_data: [u8; 20],
}

/// The report body of a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per parsed quote; boxing buys nothing
pub enum QuoteBody {
    /// TD 1.0 or TD 1.5 report (`td15` set for the latter).
    Td(TdReportBody),
    Sgx(SgxReportBody),
}

/// A parsed (not verified) quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuote {
    pub header: QuoteHeader,
    /// v5 body type (1 SGX, 2 TD 1.0, 3 TD 1.5); `None` for v3/v4.
    pub body_type: Option<u16>,
    pub body: QuoteBody,
    /// The signature data (length-prefixed section after the body).
    pub signature_data: Vec<u8>,
    /// Bytes after the signature data (zero padding from the generator).
    pub trailing_len: usize,
}

impl ParsedQuote {
    /// Parse a quote; rejects anything over [`MAX_QUOTE_SIZE`].
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestError> {
        if bytes.len() > MAX_QUOTE_SIZE {
            return Err(AttestError::QuoteTooLarge {
                size: bytes.len(),
                max: MAX_QUOTE_SIZE,
            });
        }
        let mut r = Reader::new(bytes);
        let header = QuoteHeader {
            version: r.u16("header version")?,
            att_key_type: r.u16("header attestation key type")?,
            tee_type: r.u32("header TEE type")?,
            reserved: r.array("header reserved")?,
            qe_vendor_id: r.array("header QE vendor id")?,
            user_data: r.array("header user data")?,
        };
        let (body_type, body) = match (header.version, header.tee_type) {
            (3, TEE_TYPE_SGX) | (4, TEE_TYPE_SGX) => {
                (None, QuoteBody::Sgx(SgxReportBody::read(&mut r)?))
            }
            (4, TEE_TYPE_TDX) => (None, QuoteBody::Td(TdReportBody::read(&mut r, false)?)),
            (3 | 4, other) => {
                return Err(AttestError::QuoteUnsupported {
                    reason: format!("quote version {} with TEE type {other:#x}", header.version),
                })
            }
            (5, tee_type) => read_v5_body(&mut r, tee_type)?,
            (version, _) => {
                return Err(AttestError::QuoteUnsupported {
                    reason: format!("quote version {version} (3, 4 and 5 are known)"),
                })
            }
        };
        let signature_len = r.u32("signature data length")? as usize;
        let signature_data = r.take(signature_len, "signature data")?.to_vec();
        Ok(ParsedQuote {
            header,
            body_type,
            body,
            signature_data,
            trailing_len: r.remaining(),
        })
    }

    /// The TEE this quote claims to come from ([`TeeKind::Tdx`] or [`TeeKind::Sgx`]).
    pub fn tee_kind(&self) -> TeeKind {
        match self.body {
            QuoteBody::Td(_) => TeeKind::Tdx,
            QuoteBody::Sgx(_) => TeeKind::Sgx,
        }
    }

    /// The TD report body, for TDX quotes.
    pub fn td_report(&self) -> Option<&TdReportBody> {
        match &self.body {
            QuoteBody::Td(td) => Some(td),
            QuoteBody::Sgx(_) => None,
        }
    }

    /// The enclave report body, for SGX quotes.
    pub fn sgx_report(&self) -> Option<&SgxReportBody> {
        match &self.body {
            QuoteBody::Sgx(sgx) => Some(sgx),
            QuoteBody::Td(_) => None,
        }
    }

    /// COCOON's TDX measurements, for TDX quotes.
    pub fn tdx_measurements(&self) -> Option<TdxMeasurements> {
        self.td_report().map(TdReportBody::measurements)
    }

    /// REPORTDATA of the body.
    pub fn report_data(&self) -> &[u8; 64] {
        match &self.body {
            QuoteBody::Td(td) => &td.report_data,
            QuoteBody::Sgx(sgx) => &sgx.report_data,
        }
    }

    /// Debug flag: TDATTRIBUTES.DEBUG for TDX, ATTRIBUTES.DEBUG for SGX.
    pub fn is_debug(&self) -> bool {
        match &self.body {
            QuoteBody::Td(td) => td.is_debug(),
            QuoteBody::Sgx(sgx) => sgx.is_debug(),
        }
    }

    /// Parse the signature section (attestation key, QE report, PCK chain).
    pub fn signature(&self) -> Result<QuoteSignature, AttestError> {
        QuoteSignature::parse(&self.signature_data, self.header.version == 3)
    }
}

fn read_v5_body(
    r: &mut Reader<'_>,
    tee_type: u32,
) -> Result<(Option<u16>, QuoteBody), AttestError> {
    let body_type = r.u16("v5 body type")?;
    let body_size = r.u32("v5 body size")? as usize;
    let (expected_len, expected_tee) = match body_type {
        1 => (SGX_BODY_LEN, TEE_TYPE_SGX),
        2 => (TD10_BODY_LEN, TEE_TYPE_TDX),
        3 => (TD15_BODY_LEN, TEE_TYPE_TDX),
        4 => {
            return Err(AttestError::QuoteUnsupported {
                reason: "v5 body type 4 (TD 1.5 extended report) is not supported".into(),
            })
        }
        other => {
            return Err(AttestError::QuoteUnsupported {
                reason: format!("v5 body type {other}"),
            })
        }
    };
    if body_size != expected_len {
        return Err(AttestError::malformed(format!(
            "v5 body type {body_type} must be {expected_len} bytes, header says {body_size}"
        )));
    }
    if tee_type != expected_tee {
        return Err(AttestError::malformed(format!(
            "v5 body type {body_type} with TEE type {tee_type:#x}"
        )));
    }
    let mut body = Reader::new(r.take(body_size, "v5 body")?);
    let parsed = match body_type {
        1 => QuoteBody::Sgx(SgxReportBody::read(&mut body)?),
        _ => QuoteBody::Td(TdReportBody::read(&mut body, body_type == 3)?),
    };
    Ok((Some(body_type), parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic v5 TD 1.5 quote with a given body (signature data empty).
    fn v5_quote(body_type: u16, body_len: usize, tee_type: u32) -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&5u16.to_le_bytes());
        q.extend_from_slice(&2u16.to_le_bytes());
        q.extend_from_slice(&tee_type.to_le_bytes());
        q.extend_from_slice(&[0; 4]);
        q.extend_from_slice(&INTEL_QE_VENDOR_ID);
        q.extend_from_slice(&[0; 20]);
        q.extend_from_slice(&body_type.to_le_bytes());
        q.extend_from_slice(&(body_len as u32).to_le_bytes());
        let mut body = vec![0u8; body_len];
        if let Some(b) = body.get_mut(120) {
            *b = 1; // TDATTRIBUTES.DEBUG for TD bodies (offset 16+48+48+8)
        }
        q.extend_from_slice(&body);
        q.extend_from_slice(&0u32.to_le_bytes());
        q
    }

    #[test]
    fn v5_td15_body_is_parsed_with_its_extension() {
        let q = v5_quote(3, TD15_BODY_LEN, TEE_TYPE_TDX);
        let parsed = ParsedQuote::parse(&q).expect("parses");
        assert_eq!(parsed.body_type, Some(3));
        let td = parsed.td_report().expect("td body");
        assert!(td.td15.is_some());
        assert!(parsed.is_debug());
        assert_eq!(parsed.tee_kind(), TeeKind::Tdx);
    }

    #[test]
    fn v5_body_size_and_type_are_checked() {
        let err = ParsedQuote::parse(&v5_quote(2, TD15_BODY_LEN, TEE_TYPE_TDX)).unwrap_err();
        assert!(matches!(err, AttestError::QuoteMalformed { .. }), "{err}");
        let err = ParsedQuote::parse(&v5_quote(4, 1000, TEE_TYPE_TDX)).unwrap_err();
        assert!(matches!(err, AttestError::QuoteUnsupported { .. }), "{err}");
        let err = ParsedQuote::parse(&v5_quote(1, SGX_BODY_LEN, TEE_TYPE_TDX)).unwrap_err();
        assert!(matches!(err, AttestError::QuoteMalformed { .. }), "{err}");
        let sgx = ParsedQuote::parse(&v5_quote(1, SGX_BODY_LEN, TEE_TYPE_SGX)).expect("v5 sgx");
        assert_eq!(sgx.tee_kind(), TeeKind::Sgx);
    }

    #[test]
    fn oversize_quote_is_refused_before_parsing() {
        let err = ParsedQuote::parse(&vec![0u8; MAX_QUOTE_SIZE + 1]).unwrap_err();
        assert_eq!(
            err,
            AttestError::QuoteTooLarge {
                size: MAX_QUOTE_SIZE + 1,
                max: MAX_QUOTE_SIZE
            }
        );
    }
}
