//! The peer-certificate check on its own (no handshake): v1 certificates,
//! key types, issuer, host name, key purposes, TEE extension mixes, the real
//! TDX test quote, and arbitrary bytes.

mod link_support;

use cocoon_tee::cert::{self, report_data_for_key, CertError, CertKey};
use cocoon_tee::fake::FakeQuoteProvider;
use cocoon_tee::tls::{check_peer_certificate, PeerRejected, PeerRole};
use cocoon_tee::{AttestError, TeeKind};
use link_support::*;
use proptest::prelude::*;

/// A self-signed RSA-2048 certificate made with
/// `openssl req -x509 -newkey rsa:2048 -subj /CN=localhost -addext subjectAltName=DNS:127.0.0.1`.
const RSA_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDHzCCAgegAwIBAgIUEO9dZVocV9YUHILsOBhdMHO8P40wDQYJKoZIhvcNAQEL
BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTEyNjE2MTYxNFoXDTI2MTEy
NzE2MTYxNFowFDESMBAGA1UEAwwJbG9jYWxob3N0MIIBIjANBgkqhkiG9w0BAQEF
AAOCAQ8AMIIBCgKCAQEAtBiIZ6iIn6RlzmTpMZiV0pxpEGFPm1J0fih9qE46fZBt
YGtkKgb7L7NegPrk5x5d3D3tnW76OEZkWB1tJYPSFmtiyvv4Qt58pNTNryDM/F0E
WFDibIabGqzK8g6A73eNzhFBcW1YtpdEfgToQuRCuVcph9yePAxaMj5g18u93I3u
brmmUbYJsigkLXTglE0Ycbs4aLwwk46qOEhHFrtJhOrX8e3tguNRdkg57KwyYN4/
+IMtsBfP14DsGqMy6y8siBt3QvfEIR+ZP7VUvPBPRy64Wy2vCPnOw4hJX016DQ/z
fbvEtyMsjWSmZbB2/C7Qr4f4uFe+kpTVQ8SkF4ba3QIDAQABo2kwZzAdBgNVHQ4E
FgQU0G5HgcuwImfeYNKPd1Y5CFx/OVYwHwYDVR0jBBgwFoAU0G5HgcuwImfeYNKP
d1Y5CFx/OVYwDwYDVR0TAQH/BAUwAwEB/zAUBgNVHREEDTALggkxMjcuMC4wLjEw
DQYJKoZIhvcNAQELBQADggEBAHGce6XNL6AZfcxLEN91yUBAZN9nQ+zA7clbltMD
KlZ+R/bvDCySqx94XuSsxRcY6WXhNolUTO1DAFqRN8wtiqRQ2Fa7Ou1hK8bqitRf
gpJzeBLam+NUrJHa+yra04u8/If8mGahgXBvzpNytgM8khMkgSgqZm0qV45Z8Y84
ESVsIUzKq3K1xOar/UwJ/3spRp2kxOqLbpN6jmAXe0k4/NhoowiD+i9b3psJeUMv
74PFYnIfknu0yDEcBXS9AsdNiGSKnnpIdO27ncz8sE9j3cN9qfbQIw/XQ0ZUde2x
xbddbip3bcmlJBXYINdHKBvyiXekdNsPELlri8WvNux3oX0=
-----END CERTIFICATE-----
";

fn check(der: &[u8], role: PeerRole) -> Result<cocoon_tee::PeerIdentity, PeerRejected> {
    check_peer_certificate(der, 0, role, fake_policy().as_ref(), now())
}

/// Read a DER TLV header: (header length, content length).
fn header(der: &[u8]) -> (usize, usize) {
    match der[1] {
        n if n < 0x80 => (2, n as usize),
        0x81 => (3, der[2] as usize),
        0x82 => (4, (der[2] as usize) << 8 | der[3] as usize),
        other => panic!("length form {other:#x}"),
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// Re-encode one of our v3 certificates as v1 (version field removed, as
/// OpenSSL 3.0 writes it) and re-sign it with `key`.
fn as_version_1(der: &[u8], key: &CertKey) -> Vec<u8> {
    let (cert_hdr, _) = header(der);
    let tbs = &der[cert_hdr..];
    let (tbs_hdr, tbs_len) = header(tbs);
    let tbs_content = &tbs[tbs_hdr..tbs_hdr + tbs_len];
    assert_eq!(
        &tbs_content[..5],
        &[0xa0, 0x03, 0x02, 0x01, 0x02],
        "v3 version field"
    );
    let v1_tbs = tlv(0x30, &tbs_content[5..]);
    let signature = key.sign(&v1_tbs);
    let mut bit_string = vec![0u8];
    bit_string.extend_from_slice(&signature);
    let alg = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
    tlv(
        0x30,
        &[v1_tbs, alg.to_vec(), tlv(0x03, &bit_string)].concat(),
    )
}

#[test]
fn version_1_certificate_with_extensions_is_accepted() {
    let key = CertKey::generate();
    let made = cert::generate_with_key(key.clone(), Some(&FakeQuoteProvider), at(NOW_SECS - 60))
        .expect("cert");
    let v1 = as_version_1(made.cert_der(), &key);
    let parsed = cert::ParsedCert::from_der(&v1).expect("v1 parses");
    assert_eq!(parsed.version, 1);
    assert_eq!(parsed.extensions.len(), 7);
    let identity = check(&v1, PeerRole::Server).expect("v1 accepted");
    assert_eq!(identity.tee, TeeKind::Fake);
    assert_eq!(identity.public_key, key.public_key());
}

#[test]
fn rsa_key_is_rejected() {
    let der = cert::pem_decode(RSA_CERT_PEM, "CERTIFICATE").expect("pem");
    match check(&der, PeerRole::Client) {
        Err(PeerRejected::Cert(CertError::KeyNotEd25519 { algorithm })) => {
            assert_eq!(algorithm, "1.2.840.113549.1.1.1")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_self_signature_is_rejected() {
    let made = fake_cert();
    let mut der = made.cert_der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01; // inside the signature
    assert!(matches!(
        check(&der, PeerRole::Server),
        Err(PeerRejected::Cert(CertError::BadSelfSignature(_)))
    ));
}

#[test]
fn certificate_issued_by_another_name_is_rejected() {
    let key = CertKey::generate();
    let (nb, na) = (NOW_SECS - 60, NOW_SECS + 60);
    let mut issuer_params = odd_params(nb, na);
    issuer_params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Someone Else");
    let issuer = rcgen::Issuer::new(issuer_params, &key);
    let leaf = odd_params(nb, na).signed_by(&key, &issuer).expect("sign");
    assert!(matches!(
        check(leaf.der(), PeerRole::Server),
        Err(PeerRejected::NotSelfIssued { .. })
    ));
}

#[test]
fn server_certificate_without_dns_127_0_0_1_is_rejected() {
    let key = CertKey::generate();
    let mut params = odd_params(NOW_SECS - 60, NOW_SECS + 60);
    params.subject_alt_names = vec![rcgen::SanType::IpAddress([127, 0, 0, 1].into())];
    let (der, _) = odd_ed25519(&params, &key);
    assert!(matches!(
        check(&der, PeerRole::Server),
        Err(PeerRejected::HostnameMismatch)
    ));
    // The host name is not checked on client certificates.
    assert!(check(&der, PeerRole::Client).is_ok());
}

#[test]
fn key_purposes_are_checked_per_role() {
    let key = CertKey::generate();
    let mut params = odd_params(NOW_SECS - 60, NOW_SECS + 60);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let (client_only, _) = odd_ed25519(&params, &key);
    assert!(matches!(
        check(&client_only, PeerRole::Server),
        Err(PeerRejected::WrongPurpose("server"))
    ));
    assert!(check(&client_only, PeerRole::Client).is_ok());

    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let (no_signature, _) = odd_ed25519(&params, &key);
    assert!(matches!(
        check(&no_signature, PeerRole::Client),
        Err(PeerRejected::WrongPurpose("client"))
    ));
}

#[test]
fn tdx_and_sev_extensions_together_are_rejected() {
    let key = CertKey::generate();
    let mut params = odd_params(NOW_SECS - 60, NOW_SECS + 60);
    let report_data = report_data_for_key(&key.public_key()).to_vec();
    params
        .custom_extensions
        .push(critical_ext(&QUOTE_ARCS, report_data.clone()));
    params
        .custom_extensions
        .push(critical_ext(&[1, 3, 6, 1, 4, 1, 12345, 100], report_data));
    let (der, _) = odd_ed25519(&params, &key);
    assert!(matches!(
        check(&der, PeerRole::Client),
        Err(PeerRejected::MixedTeeExtensions)
    ));
}

#[test]
fn sev_report_data_must_be_the_key_hash() {
    let key = CertKey::generate();
    let mut params = odd_params(NOW_SECS - 60, NOW_SECS + 60);
    params
        .custom_extensions
        .push(critical_ext(&[1, 3, 6, 1, 4, 1, 12345, 100], vec![0u8; 64]));
    params.custom_extensions.push(critical_ext(
        &[1, 3, 6, 1, 4, 1, 12345, 101],
        vec![0u8; 1184],
    ));
    params.custom_extensions.push(critical_ext(
        &[1, 3, 6, 1, 4, 1, 12345, 102],
        b"-----BEGIN CERTIFICATE-----".to_vec(),
    ));
    let (der, _) = odd_ed25519(&params, &key);
    assert!(matches!(
        check(&der, PeerRole::Client),
        Err(PeerRejected::SevReportDataMismatch)
    ));
}

#[test]
fn well_formed_sev_evidence_reaches_the_policy() {
    let key = CertKey::generate();
    let mut params = odd_params(NOW_SECS - 60, NOW_SECS + 60);
    params.custom_extensions.push(critical_ext(
        &[1, 3, 6, 1, 4, 1, 12345, 100],
        report_data_for_key(&key.public_key()).to_vec(),
    ));
    params.custom_extensions.push(critical_ext(
        &[1, 3, 6, 1, 4, 1, 12345, 101],
        vec![0u8; 1184],
    ));
    params.custom_extensions.push(critical_ext(
        &[1, 3, 6, 1, 4, 1, 12345, 102],
        b"vcek".to_vec(),
    ));
    let (der, _) = odd_ed25519(&params, &key);
    // The fake policy does not verify SEV-SNP; the verifier handed the report on.
    assert!(matches!(
        check(&der, PeerRole::Client),
        Err(PeerRejected::Attestation(
            AttestError::SevSnpUnsupported { .. }
        ))
    ));
}

#[test]
fn real_tdx_quote_bound_to_another_key_is_rejected() {
    let Some(dir) = std::env::var_os("COCOON_VECTORS") else {
        println!("skipped: COCOON_VECTORS not set");
        return;
    };
    let dir = std::path::PathBuf::from(dir).join("dcap-qvl");
    let quote = std::fs::read(dir.join("tdx_quote")).expect("vectors/dcap-qvl/tdx_quote");
    let collateral =
        cocoon_tee::dcap::FixedCollateral::from_file(&dir.join("tdx_quote_collateral.json"))
            .expect("vectors/dcap-qvl/tdx_quote_collateral.json");
    let policy = tdx_policy_with(std::sync::Arc::new(collateral));
    let key = CertKey::generate();
    let mut params = odd_params(NOW_SECS - 60, NOW_SECS + 60);
    params
        .custom_extensions
        .push(critical_ext(&QUOTE_ARCS, quote));
    params
        .custom_extensions
        .push(critical_ext(&CLAIMS_ARCS, key.public_key().to_vec()));
    let (der, _) = odd_ed25519(&params, &key);
    let result = check_peer_certificate(&der, 0, PeerRole::Server, policy.as_ref(), now());
    assert!(
        matches!(
            result,
            Err(PeerRejected::Attestation(AttestError::ReportDataMismatch))
        ),
        "{result:?}"
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(check(&bytes, PeerRole::Server).is_err());
    }

    #[test]
    fn corrupted_certificates_never_panic(position in any::<prop::sample::Index>(), value in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let made = fake_cert();
        let mut der = made.cert_der().to_vec();
        let at = position.index(der.len());
        der[at] = value;
        let _ = check(&der, PeerRole::Client);
        let keep = cut.index(der.len());
        prop_assert!(check(&der[..keep], PeerRole::Client).is_err());
    }
}
