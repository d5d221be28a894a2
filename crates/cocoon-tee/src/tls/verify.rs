//! Checking a peer's RA-TLS certificate (tee.md §6.2, delta §6.4) and the
//! rustls verifiers that run the check during the handshake.
//!
//! Order of checks: a single certificate (no intermediates); it parses, with
//! an Ed25519 key; issuer = subject and a valid Ed25519 self-signature;
//! inside its validity period by our clock; key usage fits the peer's role
//! (and a server certificate names the DNS name "127.0.0.1", which reference
//! clients require); critical extensions are all understood; TDX and SEV
//! extensions are not mixed; the quote is at most 32 KiB and the claims, if
//! present, are the certificate key; then the attestation policy decides.
//!
//! Stricter than the reference: the self-signature is checked, the user-claims
//! extension must match the key (the reference ignores it), and critical
//! policy extensions OpenSSL would tolerate are refused.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::Clock;
use crate::cert::{report_data_for_key, CertError, ParsedCert, COCOON_OIDS, KNOWN_CRITICAL_OIDS};
use crate::cert::{OID_SEV_ATTESTATION_REPORT, OID_SEV_REPORT_DATA, OID_SEV_VCEK};
use crate::identity::{AttestationPolicy, Evidence, PeerIdentity};
use crate::AttestError;

/// Largest quote (or SEV report) accepted in a certificate, as the reference.
pub const MAX_QUOTE_LEN: usize = 32 * 1024;

/// The DNS name reference clients check server certificates against.
pub const REFERENCE_HOST_NAME: &str = "127.0.0.1";

/// Which side of the handshake the peer is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// We are the client and check the server's certificate.
    Server,
    /// We are the server and check the client's certificate.
    Client,
}

/// Why a peer's certificate was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerRejected {
    #[error("peer sent {count} intermediate certificate(s); only a single self-signed certificate is accepted")]
    Intermediates { count: usize },
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("certificate is not self-issued (issuer '{issuer}' differs from subject '{subject}')")]
    NotSelfIssued { issuer: String, subject: String },
    #[error("certificate not yet valid: notBefore {not_before} is after now {now} (UNIX seconds)")]
    NotYetValid { not_before: i64, now: i64 },
    #[error("certificate expired: notAfter {not_after} is before now {now} (UNIX seconds)")]
    Expired { not_after: i64, now: i64 },
    #[error("certificate key usage does not allow use as a TLS {0}")]
    WrongPurpose(&'static str),
    #[error("server certificate has no DNS name \"{REFERENCE_HOST_NAME}\" in subjectAltName")]
    HostnameMismatch,
    #[error("certificate has an unknown critical extension {oid}")]
    UnknownCriticalExtension { oid: String },
    #[error("certificate carries both TDX and SEV-SNP extensions; they are mutually exclusive")]
    MixedTeeExtensions,
    #[error("certificate has the user-claims extension but no quote extension")]
    ClaimsWithoutQuote,
    #[error("user-claims extension ({claims_len} bytes) is not the certificate's public key")]
    ClaimsMismatch { claims_len: usize },
    #[error("quote extension is {size} bytes, more than {max}")]
    QuoteTooLarge { size: usize, max: usize },
    #[error("SEV-SNP certificate lacks the {0} extension")]
    SevExtensionMissing(&'static str),
    #[error("SEV-SNP report-data extension is not SHA-512 of the certificate key")]
    SevReportDataMismatch,
    #[error("peer rejected by attestation policy: {0}")]
    Attestation(#[from] AttestError),
    #[error("peer tried TLS 1.2; only TLS 1.3 is allowed")]
    Tls12,
    #[error("system clock is before 1970")]
    ClockBeforeEpoch,
}

/// Run every check on a peer's end-entity certificate and, if they pass,
/// ask `policy` about the evidence. `intermediates` is the number of extra
/// certificates the peer sent.
pub fn check_peer_certificate(
    end_entity: &[u8],
    intermediates: usize,
    role: PeerRole,
    policy: &dyn AttestationPolicy,
    now: SystemTime,
) -> Result<PeerIdentity, PeerRejected> {
    if intermediates > 0 {
        return Err(PeerRejected::Intermediates {
            count: intermediates,
        });
    }
    let cert = ParsedCert::from_der(end_entity)?;
    if !cert.self_issued {
        return Err(PeerRejected::NotSelfIssued {
            issuer: cert.issuer.clone(),
            subject: cert.subject.clone(),
        });
    }
    cert.verify_self_signature()?;
    check_validity(&cert, now)?;
    check_purpose(&cert, role)?;
    for ext in cert.extensions.iter().filter(|e| e.critical) {
        if !KNOWN_CRITICAL_OIDS.contains(&ext.oid.as_str())
            && !COCOON_OIDS.contains(&ext.oid.as_str())
        {
            return Err(PeerRejected::UnknownCriticalExtension {
                oid: ext.oid.clone(),
            });
        }
    }
    let evidence = evidence_of(&cert)?;
    Ok(policy.verify(&evidence, now)?)
}

fn check_validity(cert: &ParsedCert, now: SystemTime) -> Result<(), PeerRejected> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PeerRejected::ClockBeforeEpoch)?
        .as_secs();
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    if now < cert.not_before {
        return Err(PeerRejected::NotYetValid {
            not_before: cert.not_before,
            now,
        });
    }
    if now > cert.not_after {
        return Err(PeerRejected::Expired {
            not_after: cert.not_after,
            now,
        });
    }
    Ok(())
}

/// OpenSSL's SSL server/client purpose checks on a leaf, plus the host name
/// check reference clients make on server certificates.
fn check_purpose(cert: &ParsedCert, role: PeerRole) -> Result<(), PeerRejected> {
    const DIGITAL_SIGNATURE: u16 = 1;
    const KEY_ENCIPHERMENT: u16 = 1 << 2;
    const KEY_AGREEMENT: u16 = 1 << 4;
    let (eku_ok, ku_mask, name) = match (role, cert.purposes.ext_key_usage) {
        (PeerRole::Server, eku) => (
            eku.is_none_or(|(server, _)| server),
            DIGITAL_SIGNATURE | KEY_ENCIPHERMENT | KEY_AGREEMENT,
            "server",
        ),
        (PeerRole::Client, eku) => (
            eku.is_none_or(|(_, client)| client),
            DIGITAL_SIGNATURE | KEY_AGREEMENT,
            "client",
        ),
    };
    let ku_ok = cert
        .purposes
        .key_usage
        .is_none_or(|flags| flags & ku_mask != 0);
    if !eku_ok || !ku_ok {
        return Err(PeerRejected::WrongPurpose(name));
    }
    if role == PeerRole::Server
        && !cert
            .san_dns
            .iter()
            .any(|n| n.eq_ignore_ascii_case(REFERENCE_HOST_NAME))
    {
        return Err(PeerRejected::HostnameMismatch);
    }
    Ok(())
}

/// The attestation evidence in the certificate (delta §6.4 step 2).
fn evidence_of(cert: &ParsedCert) -> Result<Evidence<'_>, PeerRejected> {
    let tdx = cert.tdx_quote.is_some() || cert.tdx_user_claims.is_some();
    let sev =
        cert.sev_report_data.is_some() || cert.sev_report.is_some() || cert.sev_vcek.is_some();
    let mut evidence = Evidence {
        public_key: &cert.public_key,
        tdx_quote: None,
        sev_report: None,
        sev_report_data: None,
        sev_vcek: None,
    };
    if tdx && sev {
        return Err(PeerRejected::MixedTeeExtensions);
    }
    if tdx {
        let quote = cert
            .tdx_quote
            .as_deref()
            .ok_or(PeerRejected::ClaimsWithoutQuote)?;
        if quote.len() > MAX_QUOTE_LEN {
            return Err(PeerRejected::QuoteTooLarge {
                size: quote.len(),
                max: MAX_QUOTE_LEN,
            });
        }
        if let Some(claims) = cert.tdx_user_claims.as_deref() {
            if claims != cert.public_key.as_slice() {
                return Err(PeerRejected::ClaimsMismatch {
                    claims_len: claims.len(),
                });
            }
        }
        evidence.tdx_quote = Some(quote);
    } else if sev {
        let report_data = cert
            .sev_report_data
            .as_deref()
            .ok_or(PeerRejected::SevExtensionMissing(OID_SEV_REPORT_DATA))?;
        if report_data != report_data_for_key(&cert.public_key).as_slice() {
            return Err(PeerRejected::SevReportDataMismatch);
        }
        let report = cert
            .sev_report
            .as_deref()
            .ok_or(PeerRejected::SevExtensionMissing(
                OID_SEV_ATTESTATION_REPORT,
            ))?;
        let vcek = cert
            .sev_vcek
            .as_deref()
            .ok_or(PeerRejected::SevExtensionMissing(OID_SEV_VCEK))?;
        for (oid, len) in [
            (OID_SEV_ATTESTATION_REPORT, report.len()),
            (OID_SEV_VCEK, vcek.len()),
        ] {
            if len > MAX_QUOTE_LEN {
                tracing::debug!(oid, len, "oversize SEV-SNP extension");
                return Err(PeerRejected::QuoteTooLarge {
                    size: len,
                    max: MAX_QUOTE_LEN,
                });
            }
        }
        evidence.sev_report = Some(report);
        evidence.sev_report_data = Some(report_data);
        evidence.sev_vcek = Some(vcek);
    }
    Ok(evidence)
}

/// The outcome of the one handshake a [`PeerVerifier`] served.
pub type PeerOutcome = Result<PeerIdentity, PeerRejected>;

/// rustls server- and client-certificate verifier for one connection. It
/// keeps the verified [`PeerIdentity`] (or the precise rejection) so the
/// caller can take it after the handshake with [`PeerVerifier::take_outcome`].
#[derive(Debug)]
pub struct PeerVerifier {
    policy: Arc<dyn AttestationPolicy>,
    clock: Arc<dyn Clock>,
    provider: Arc<CryptoProvider>,
    outcome: Mutex<Option<PeerOutcome>>,
}

impl PeerVerifier {
    pub fn new(policy: Arc<dyn AttestationPolicy>, clock: Arc<dyn Clock>) -> Self {
        Self {
            policy,
            clock,
            provider: super::crypto_provider(),
            outcome: Mutex::new(None),
        }
    }

    /// The result of the certificate check, once (`None` if no check ran).
    pub fn take_outcome(&self) -> Option<PeerOutcome> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: usize,
        role: PeerRole,
    ) -> Result<(), rustls::Error> {
        let outcome = check_peer_certificate(
            end_entity,
            intermediates,
            role,
            self.policy.as_ref(),
            self.clock.now(),
        );
        let result = match &outcome {
            Ok(_) => Ok(()),
            Err(rejected) => Err(to_rustls_error(rejected)),
        };
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        result
    }

    fn record_tls12(&self) -> rustls::Error {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Err(PeerRejected::Tls12));
        rustls::Error::General(PeerRejected::Tls12.to_string())
    }

    fn verify_tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, parsed) = X509Certificate::from_der(cert)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let spki = SubjectPublicKeyInfoDer::from(parsed.tbs_certificate.subject_pki.raw);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
}

/// A rejection as rustls reports it (the full reason stays in the outcome slot).
fn to_rustls_error(rejected: &PeerRejected) -> rustls::Error {
    let cert_error = match rejected {
        PeerRejected::Expired { .. } => CertificateError::Expired,
        PeerRejected::NotYetValid { .. } => CertificateError::NotValidYet,
        PeerRejected::Cert(CertError::Malformed(_)) => CertificateError::BadEncoding,
        PeerRejected::Cert(CertError::BadSelfSignature(_)) => CertificateError::BadSignature,
        other => CertificateError::Other(OtherError(Arc::new(RejectionText(other.to_string())))),
    };
    rustls::Error::InvalidCertificate(cert_error)
}

#[derive(Debug)]
struct RejectionText(String);

impl std::fmt::Display for RejectionText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RejectionText {}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates.len(), PeerRole::Server)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(self.record_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates.len(), PeerRole::Client)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(self.record_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
