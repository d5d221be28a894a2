//! RA-TLS certificates: generation exactly as the reference's `gen-cert`
//! (tee.md §3.2), parsing of ours and the reference's (v1 or v3), and the
//! Ed25519 key PEM (PKCS#8 v1).
//!
//! The certificate is a self-signed Ed25519 X.509 certificate with subject
//! `C=AE, ST=DUBAI, O=TDLib Development, OU=Security, CN=localhost`, valid for
//! 86 400 s from `not_before`, whose extensions are, in order:
//! TDX quote (critical, raw bytes) and user claims (critical, raw 32-byte key)
//! when attested (SEV-SNP instead: report data, report, VCEK PEM, all
//! critical, see [`generate_with_sev_evidence`]), then basicConstraints (critical, CA:FALSE), keyUsage
//! (critical, digitalSignature), extKeyUsage (critical, serverAuth+clientAuth),
//! subjectKeyIdentifier (SHA-1 of the key), subjectAltName
//! (`DNS:localhost, DNS:127.0.0.1, IP:::1`). No authorityKeyIdentifier.
//! We emit v3; the reference emits v1 or v3 depending on its OpenSSL.

mod extensions;
mod key;
mod parse;
mod pem;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::string::PrintableString;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa, SerialNumber,
};
use sha2::{Digest, Sha512};

use crate::identity::{QuoteProvider, TeeKind};
use crate::AttestError;

pub use extensions::{
    COCOON_OIDS, KNOWN_CRITICAL_OIDS, OID_BASIC_CONSTRAINTS, OID_EXT_KEY_USAGE, OID_KEY_USAGE,
    OID_SEV_ATTESTATION_REPORT, OID_SEV_REPORT_DATA, OID_SEV_VCEK, OID_SUBJECT_ALT_NAME,
    OID_SUBJECT_KEY_ID, OID_TDX_QUOTE, OID_TDX_USER_CLAIMS,
};
pub use key::{CertKey, PKCS8_V1_ED25519_PREFIX};
pub use parse::{CertExtension, KeyPurposes, ParsedCert, MAX_CERT_DER_LEN};
pub use pem::{pem_decode, pem_encode};

/// Certificate lifetime: notAfter = notBefore + 86 400 s.
pub const CERT_VALIDITY: Duration = Duration::from_secs(86_400);

/// Why a certificate or key could not be built, parsed or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("malformed certificate: {0}")]
    Malformed(String),
    #[error("certificate key is not Ed25519 (algorithm {algorithm})")]
    KeyNotEd25519 { algorithm: String },
    #[error("certificate has extension {oid} more than once")]
    DuplicateExtension { oid: String },
    #[error("bad self-signature: {0}")]
    BadSelfSignature(String),
    #[error("bad private key: {0}")]
    BadKey(String),
    #[error("private key does not belong to the certificate")]
    KeyMismatch,
    #[error(
        "cannot put a {0} attestation into a certificate (only TDX and fake quotes are supported)"
    )]
    UnsupportedTee(TeeKind),
    #[error("quote provider failed: {0}")]
    Quote(#[from] AttestError),
    #[error("invalid certificate time: {0}")]
    BadTime(String),
    #[error("certificate generation failed: {0}")]
    Build(String),
}

/// A certificate with its private key.
#[derive(Debug, Clone)]
pub struct CertAndKey {
    cert_der: Vec<u8>,
    key: CertKey,
}

impl CertAndKey {
    /// Pair an existing certificate with its key; the key must match the
    /// certificate's Ed25519 key.
    pub fn new(cert_der: Vec<u8>, key: CertKey) -> Result<Self, CertError> {
        let parsed = ParsedCert::from_der(&cert_der)?;
        if parsed.public_key != key.public_key() {
            return Err(CertError::KeyMismatch);
        }
        Ok(Self { cert_der, key })
    }

    /// Load `BASE_cert.pem` / `BASE_key.pem` contents (key PKCS#8 v1 or v2).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let der = pem_decode(cert_pem, "CERTIFICATE").map_err(CertError::Malformed)?;
        Self::new(der, CertKey::from_pem(key_pem)?)
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// `-----BEGIN CERTIFICATE-----` PEM.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    pub fn key(&self) -> &CertKey {
        &self.key
    }

    /// PKCS#8 v1 key PEM (readable by OpenSSL 3.0).
    pub fn key_pem(&self) -> String {
        self.key.to_pem()
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.public_key()
    }
}

/// SHA-512 of the raw 32-byte public key: the quote's REPORTDATA.
pub fn report_data_for_key(public_key: &[u8; 32]) -> [u8; 64] {
    Sha512::digest(public_key).into()
}

/// Generate a fresh key and its certificate valid from `not_before` for
/// [`CERT_VALIDITY`]. With a quote provider, the certificate carries the
/// quote of SHA-512(public key) and the user-claims extension.
pub fn generate(
    quote_provider: Option<&dyn QuoteProvider>,
    not_before: SystemTime,
) -> Result<CertAndKey, CertError> {
    generate_with_key(CertKey::generate(), quote_provider, not_before)
}

/// Like [`generate`] with a given key (deterministic keys in tests, key import).
pub fn generate_with_key(
    key: CertKey,
    quote_provider: Option<&dyn QuoteProvider>,
    not_before: SystemTime,
) -> Result<CertAndKey, CertError> {
    let public_key = key.public_key();
    let mut params = base_params(not_before)?;
    if let Some(provider) = quote_provider {
        match provider.kind() {
            TeeKind::Tdx | TeeKind::Fake => {}
            other => return Err(CertError::UnsupportedTee(other)),
        }
        let quote = provider.quote(&report_data_for_key(&public_key))?;
        params
            .custom_extensions
            .push(critical_extension(&extensions::cocoon_arcs(1), quote));
        params.custom_extensions.push(critical_extension(
            &extensions::cocoon_arcs(2),
            public_key.to_vec(),
        ));
    }
    push_standard_extensions(&mut params, &public_key);
    let cert = params
        .self_signed(&key)
        .map_err(|e| CertError::Build(e.to_string()))?;
    Ok(CertAndKey {
        cert_der: cert.der().to_vec(),
        key,
    })
}

/// A certificate of `key` carrying SEV-SNP evidence (delta §6.3): the
/// report-data extension (SHA-512 of the key), `report` (which must carry
/// that report data, as requested from the firmware) and the chip's VCEK
/// (PEM text, as the reference writes it), all critical, then the standard
/// extensions. The caller obtains `report` inside an SNP guest.
pub fn generate_with_sev_evidence(
    key: CertKey,
    report: Vec<u8>,
    vcek_pem: Vec<u8>,
    not_before: SystemTime,
) -> Result<CertAndKey, CertError> {
    let public_key = key.public_key();
    let mut params = base_params(not_before)?;
    let exts = &mut params.custom_extensions;
    exts.push(critical_extension(
        &extensions::cocoon_arcs(100),
        report_data_for_key(&public_key).to_vec(),
    ));
    exts.push(critical_extension(&extensions::cocoon_arcs(101), report));
    exts.push(critical_extension(&extensions::cocoon_arcs(102), vcek_pem));
    push_standard_extensions(&mut params, &public_key);
    let cert = params
        .self_signed(&key)
        .map_err(|e| CertError::Build(e.to_string()))?;
    Ok(CertAndKey {
        cert_der: cert.der().to_vec(),
        key,
    })
}

/// Subject, serial and validity; no extensions yet.
fn base_params(not_before: SystemTime) -> Result<CertificateParams, CertError> {
    let not_before_secs = not_before
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CertError::BadTime("notBefore is before 1970".into()))?
        .as_secs();
    let not_before_secs = i64::try_from(not_before_secs)
        .map_err(|_| CertError::BadTime("notBefore is out of range".into()))?;
    let to_time = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| CertError::BadTime(format!("{secs}: {e}")))
    };

    let mut params = CertificateParams::default();
    params.not_before = to_time(not_before_secs)?;
    params.not_after = to_time(not_before_secs.saturating_add(CERT_VALIDITY.as_secs() as i64))?;
    params.serial_number = Some(random_serial());
    params.is_ca = IsCa::NoCa;
    params.distinguished_name = reference_subject()?;
    Ok(params)
}

/// 16 random bytes, read as an unsigned (positive) INTEGER.
fn random_serial() -> SerialNumber {
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    SerialNumber::from_slice(&serial)
}

/// `C=AE` (PrintableString), `ST=DUBAI, O=TDLib Development, OU=Security, CN=localhost` (UTF8String).
fn reference_subject() -> Result<DistinguishedName, CertError> {
    let country = PrintableString::try_from("AE").map_err(|e| CertError::Build(e.to_string()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, DnValue::PrintableString(country));
    dn.push(DnType::StateOrProvinceName, "DUBAI");
    dn.push(DnType::OrganizationName, "TDLib Development");
    dn.push(DnType::OrganizationalUnitName, "Security");
    dn.push(DnType::CommonName, "localhost");
    Ok(dn)
}

fn critical_extension(arcs: &[u64], value: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(arcs, value);
    ext.set_criticality(true);
    ext
}

/// basicConstraints, keyUsage, extKeyUsage, SKI, SAN — in the reference's order and criticality.
fn push_standard_extensions(params: &mut CertificateParams, public_key: &[u8; 32]) {
    use extensions::*;
    let exts = &mut params.custom_extensions;
    exts.push(critical_extension(
        &ARCS_BASIC_CONSTRAINTS,
        BASIC_CONSTRAINTS_NOT_CA.to_vec(),
    ));
    exts.push(critical_extension(
        &ARCS_KEY_USAGE,
        KEY_USAGE_DIGITAL_SIGNATURE.to_vec(),
    ));
    exts.push(critical_extension(
        &ARCS_EXT_KEY_USAGE,
        EXT_KEY_USAGE_SERVER_CLIENT.to_vec(),
    ));
    exts.push(CustomExtension::from_oid_content(
        &ARCS_SUBJECT_KEY_ID,
        subject_key_identifier(public_key),
    ));
    exts.push(CustomExtension::from_oid_content(
        &ARCS_SUBJECT_ALT_NAME,
        SUBJECT_ALT_NAMES.to_vec(),
    ));
}
