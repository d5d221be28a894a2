//! The VCEK certificate: a P-384 key AMD's KDS certifies for one chip
//! (`hwID`, `1.3.6.1.4.1.3704.1.4`) at one TCB (the SPL extensions
//! `1.3.6.1.4.1.3704.1.3.x`), for one product (`productName`,
//! `1.3.6.1.4.1.3704.1.2`). Accepted as DER or PEM (the reference's
//! SEV_VCEK certificate extension carries PEM text).

use x509_parser::der_parser::der::{parse_der_ia5string, parse_der_integer};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::SevError;
use super::product::{Product, TcbVersion};

const OID_PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
const OID_HW_ID: &str = "1.3.6.1.4.1.3704.1.4";

/// Largest VCEK accepted (real ones are about 1.4 KB).
pub const MAX_VCEK_LEN: usize = 16 * 1024;

/// What the verifier needs from a VCEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vcek {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// `productName` as written (e.g. `Milan-B0`).
    pub product_name: String,
    pub product: Product,
    /// `hwID`: 64 bytes (Milan, Genoa) or 8 bytes (Turin), a prefix of the
    /// report's chip id.
    pub hw_id: Vec<u8>,
    /// The TCB the VCEK was derived for.
    pub tcb: TcbVersion,
    /// Uncompressed P-384 point `0x04 ‖ X ‖ Y`.
    pub public_key: Vec<u8>,
}

fn malformed(reason: impl Into<String>) -> SevError {
    SevError::VcekMalformed {
        reason: reason.into(),
    }
}

/// DER of the first certificate in `bytes` (DER itself, or PEM text).
pub fn certificate_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.starts_with(b"-----BEGIN") || bytes.first().is_some_and(u8::is_ascii_whitespace) {
        let (_, pem) = x509_parser::pem::parse_x509_pem(bytes).map_err(|e| format!("PEM: {e}"))?;
        if pem.label != "CERTIFICATE" {
            return Err(format!("PEM block is {:?}, not CERTIFICATE", pem.label));
        }
        Ok(pem.contents)
    } else {
        Ok(bytes.to_vec())
    }
}

fn spl(cert: &X509Certificate<'_>, oid: &str, name: &str) -> Result<Option<u8>, SevError> {
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
    else {
        return Ok(None);
    };
    let (_, int) = parse_der_integer(ext.value).map_err(|e| malformed(format!("{name}: {e}")))?;
    let value = int
        .as_u32()
        .map_err(|e| malformed(format!("{name}: {e}")))?;
    u8::try_from(value)
        .map(Some)
        .map_err(|_| malformed(format!("{name} {value} does not fit a byte")))
}

fn required(value: Option<u8>, name: &str) -> Result<u8, SevError> {
    value.ok_or_else(|| malformed(format!("no {name} extension")))
}

impl Vcek {
    /// Parse a VCEK (DER or PEM) and read AMD's extensions.
    pub fn parse(bytes: &[u8]) -> Result<Vcek, SevError> {
        if bytes.len() > MAX_VCEK_LEN {
            return Err(malformed(format!(
                "{} bytes, at most {MAX_VCEK_LEN} accepted",
                bytes.len()
            )));
        }
        let der = certificate_der(bytes).map_err(malformed)?;
        let (rest, cert) = X509Certificate::from_der(&der).map_err(|e| malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the certificate"));
        }
        let find = |oid: &str| {
            cert.extensions()
                .iter()
                .find(|e| e.oid.to_id_string() == oid)
        };
        let name_ext = find(OID_PRODUCT_NAME).ok_or_else(|| malformed("no productName"))?;
        let (_, name) = parse_der_ia5string(name_ext.value)
            .map_err(|e| malformed(format!("productName: {e}")))?;
        let product_name = name
            .as_str()
            .map_err(|e| malformed(format!("productName: {e}")))?
            .to_owned();
        let product = Product::from_vcek_product_name(&product_name).ok_or_else(|| {
            SevError::UnknownProduct {
                name: product_name.clone(),
            }
        })?;
        let hw_id = find(OID_HW_ID)
            .ok_or_else(|| malformed("no hwID"))?
            .value
            .to_vec();
        let hw_id_len = if product == Product::Turin { 8 } else { 64 };
        if hw_id.len() != hw_id_len {
            return Err(malformed(format!(
                "hwID has {} bytes, a {product} hwID has {hw_id_len}",
                hw_id.len()
            )));
        }
        let tcb = TcbVersion {
            fmc: if product.has_fmc() {
                Some(required(spl(&cert, OID_FMC_SPL, "fmcSPL")?, "fmcSPL")?)
            } else {
                None
            },
            bootloader: required(spl(&cert, OID_BL_SPL, "blSPL")?, "blSPL")?,
            tee: required(spl(&cert, OID_TEE_SPL, "teeSPL")?, "teeSPL")?,
            snp: required(spl(&cert, OID_SNP_SPL, "snpSPL")?, "snpSPL")?,
            microcode: required(spl(&cert, OID_UCODE_SPL, "ucodeSPL")?, "ucodeSPL")?,
        };
        let public_key = cert.public_key().subject_public_key.data.to_vec();
        if public_key.len() != 97 || public_key.first() != Some(&0x04) {
            return Err(malformed(
                "public key is not an uncompressed P-384 point (97 bytes, 0x04 first)",
            ));
        }
        Ok(Vcek {
            product_name,
            product,
            hw_id,
            tcb,
            public_key,
            der: der.clone(),
        })
    }
}
