//! Parsing RA-TLS certificates (ours and the reference's, X.509 v1 or v3)
//! into the fields the verifier and `cocoon inspect cert` need.
//!
//! Parsing only checks structure: an Ed25519 key, well-formed DER, no
//! duplicate extensions. Whether the certificate is acceptable as a peer
//! (dates, critical extensions, self-signature, policy) is decided in
//! [`crate::tls`].

use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::extensions::{
    OID_SEV_ATTESTATION_REPORT, OID_SEV_REPORT_DATA, OID_SEV_VCEK, OID_TDX_QUOTE,
    OID_TDX_USER_CLAIMS,
};
use super::pem::pem_decode;
use super::CertError;

/// `1.3.101.112`, Ed25519.
const OID_ED25519: &str = "1.3.101.112";

/// Largest certificate we parse. A DCAP quote is ~5 KiB; 64 KiB is also the
/// largest TLS handshake message.
pub const MAX_CERT_DER_LEN: usize = 64 * 1024;

/// One extension as it appears in the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExtension {
    /// Dotted OID.
    pub oid: String,
    pub critical: bool,
    /// The extnValue OCTET STRING's content.
    pub value: Vec<u8>,
}

/// What the keyUsage / extKeyUsage extensions allow, when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyPurposes {
    /// `Some(flags)` when keyUsage is present (bit 0 = digitalSignature, as x509-parser counts).
    pub key_usage: Option<u16>,
    /// `Some((serverAuth, clientAuth))` when extKeyUsage is present.
    pub ext_key_usage: Option<(bool, bool)>,
}

/// A parsed RA-TLS certificate.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    /// X.509 version as people count it: 1 (no version field) or 3.
    pub version: u8,
    /// Serial number bytes (big-endian, as encoded).
    pub serial: Vec<u8>,
    /// Ed25519 public key (32 raw bytes).
    pub public_key: [u8; 32],
    /// notBefore, UNIX seconds.
    pub not_before: i64,
    /// notAfter, UNIX seconds.
    pub not_after: i64,
    /// Subject and issuer in OpenSSL-like one-line form (for display).
    pub subject: String,
    pub issuer: String,
    /// Issuer name equals subject name, byte for byte.
    pub self_issued: bool,
    /// Content of the TDX quote extension (`…12345.1`).
    pub tdx_quote: Option<Vec<u8>>,
    /// Content of the user-claims extension (`…12345.2`), normally the public key again.
    pub tdx_user_claims: Option<Vec<u8>>,
    /// Content of the SEV-SNP report-data extension (`…12345.100`).
    pub sev_report_data: Option<Vec<u8>>,
    /// Content of the SEV-SNP attestation-report extension (`…12345.101`).
    pub sev_report: Option<Vec<u8>>,
    /// Content of the SEV-SNP VCEK extension (`…12345.102`).
    pub sev_vcek: Option<Vec<u8>>,
    /// Every extension, in certificate order.
    pub extensions: Vec<CertExtension>,
    /// dNSName entries of subjectAltName.
    pub san_dns: Vec<String>,
    /// iPAddress entries of subjectAltName.
    pub san_ip: Vec<IpAddr>,
    pub purposes: KeyPurposes,
    /// The signed part and the signature, for [`ParsedCert::verify_self_signature`].
    tbs: Vec<u8>,
    signature: Vec<u8>,
    signature_algorithm_is_ed25519: bool,
}

impl ParsedCert {
    /// Parse the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        if pem.len() > 2 * MAX_CERT_DER_LEN {
            return Err(CertError::Malformed(format!(
                "certificate PEM is {} bytes, too large",
                pem.len()
            )));
        }
        let der = pem_decode(pem, "CERTIFICATE").map_err(CertError::Malformed)?;
        Self::from_der(&der)
    }

    /// Parse a DER certificate. Trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        if der.len() > MAX_CERT_DER_LEN {
            return Err(CertError::Malformed(format!(
                "certificate is {} bytes, more than {MAX_CERT_DER_LEN}",
                der.len()
            )));
        }
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| CertError::Malformed(format!("not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(CertError::Malformed(format!(
                "{} bytes after the certificate",
                rest.len()
            )));
        }
        let tbs_cert = &cert.tbs_certificate;

        let spki = tbs_cert.public_key();
        let key_alg = spki.algorithm.algorithm.to_id_string();
        if key_alg != OID_ED25519 {
            return Err(CertError::KeyNotEd25519 { algorithm: key_alg });
        }
        if spki.algorithm.parameters.is_some() {
            return Err(CertError::Malformed(
                "Ed25519 key with algorithm parameters".into(),
            ));
        }
        let public_key: [u8; 32] =
            spki.subject_public_key
                .data
                .as_ref()
                .try_into()
                .map_err(|_| {
                    CertError::Malformed(format!(
                        "Ed25519 key is {} bytes, not 32",
                        spki.subject_public_key.data.len()
                    ))
                })?;

        let version = u8::try_from(tbs_cert.version().0.saturating_add(1))
            .map_err(|_| CertError::Malformed("bad version".into()))?;

        let mut parsed = ParsedCert {
            version,
            serial: tbs_cert.raw_serial().to_vec(),
            public_key,
            not_before: tbs_cert.validity().not_before.timestamp(),
            not_after: tbs_cert.validity().not_after.timestamp(),
            subject: tbs_cert.subject().to_string(),
            issuer: tbs_cert.issuer().to_string(),
            self_issued: tbs_cert.subject().as_raw() == tbs_cert.issuer().as_raw(),
            tdx_quote: None,
            tdx_user_claims: None,
            sev_report_data: None,
            sev_report: None,
            sev_vcek: None,
            extensions: Vec::new(),
            san_dns: Vec::new(),
            san_ip: Vec::new(),
            purposes: KeyPurposes::default(),
            tbs: tbs_cert.as_ref().to_vec(),
            signature: cert.signature_value.data.to_vec(),
            signature_algorithm_is_ed25519: cert.signature_algorithm.algorithm.to_id_string()
                == OID_ED25519
                && cert.signature_algorithm.parameters.is_none()
                && tbs_cert.signature.algorithm == cert.signature_algorithm.algorithm,
        };

        for ext in tbs_cert.extensions() {
            let oid = ext.oid.to_id_string();
            if parsed.extensions.iter().any(|seen| seen.oid == oid) {
                return Err(CertError::DuplicateExtension { oid });
            }
            let value = ext.value.to_vec();
            match oid.as_str() {
                OID_TDX_QUOTE => parsed.tdx_quote = Some(value.clone()),
                OID_TDX_USER_CLAIMS => parsed.tdx_user_claims = Some(value.clone()),
                OID_SEV_REPORT_DATA => parsed.sev_report_data = Some(value.clone()),
                OID_SEV_ATTESTATION_REPORT => parsed.sev_report = Some(value.clone()),
                OID_SEV_VCEK => parsed.sev_vcek = Some(value.clone()),
                _ => {}
            }
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(dns) => parsed.san_dns.push((*dns).to_string()),
                            GeneralName::IPAddress(bytes) => {
                                if let Some(ip) = ip_from_bytes(bytes) {
                                    parsed.san_ip.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::KeyUsage(ku) => parsed.purposes.key_usage = Some(ku.flags),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    parsed.purposes.ext_key_usage = Some((eku.server_auth, eku.client_auth))
                }
                ParsedExtension::ParseError { error } => {
                    return Err(CertError::Malformed(format!(
                        "extension {oid} does not parse: {error}"
                    )));
                }
                _ => {}
            }
            parsed.extensions.push(CertExtension {
                oid,
                critical: ext.critical,
                value,
            });
        }
        Ok(parsed)
    }

    /// Check that the certificate is signed with Ed25519 by its own key.
    pub fn verify_self_signature(&self) -> Result<(), CertError> {
        if !self.signature_algorithm_is_ed25519 {
            return Err(CertError::BadSelfSignature(
                "signature algorithm is not Ed25519".into(),
            ));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.public_key).map_err(|_| {
            CertError::BadSelfSignature("public key is not a valid Ed25519 point".into())
        })?;
        let signature = ed25519_dalek::Signature::from_slice(&self.signature).map_err(|_| {
            CertError::BadSelfSignature(format!("signature is {} bytes", self.signature.len()))
        })?;
        key.verify_strict(&self.tbs, &signature).map_err(|_| {
            CertError::BadSelfSignature(
                "signature does not verify with the certificate's key".into(),
            )
        })
    }

    /// The extension with this dotted OID.
    pub fn extension(&self, oid: &str) -> Option<&CertExtension> {
        self.extensions.iter().find(|e| e.oid == oid)
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}
