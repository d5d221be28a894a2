//! RA-TLS certificate bytes against tee.md §3.2/§3.3: every field of a
//! generated certificate, checked with x509-parser and on the raw DER.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cocoon_tee::cert::{self, CertKey, ParsedCert, PKCS8_V1_ED25519_PREFIX};
use cocoon_tee::fake::FakeQuoteProvider;
use sha2::{Digest, Sha512};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Seed `01 02 … 20` of tee.md §3.3.
fn reference_seed() -> [u8; 32] {
    std::array::from_fn(|i| (i + 1) as u8)
}

const NOT_BEFORE: u64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// DER TLV with a short or long-form length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn deterministic_seed_matches_reference_example() {
    let key = CertKey::from_seed(&reference_seed());
    assert_eq!(
        hex::encode(key.public_key()),
        "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
    );
    assert_eq!(
        hex::encode(cert::report_data_for_key(&key.public_key())),
        "7b6a1405e47be084864fc74eb876beb7f9c108a49ac02647a1420e836e3620ab\
         54dd2cf5a6a94c9c39075fa0e0fd9a74ec9a6cdd3b738a07f7d56adc80c0935d"
    );
}

#[test]
fn fake_attested_certificate_has_every_reference_field() {
    let key = CertKey::from_seed(&reference_seed());
    let pubkey = key.public_key();
    let made = cert::generate_with_key(key, Some(&FakeQuoteProvider), at(NOT_BEFORE)).unwrap();
    let der = made.cert_der();
    let (rest, x509) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    let tbs = &x509.tbs_certificate;

    // v3, positive serial from 16 random bytes.
    assert_eq!(tbs.version().0, 2);
    let serial = tbs.raw_serial();
    assert!(
        (1..=17).contains(&serial.len()),
        "serial {} bytes",
        serial.len()
    );
    assert!(serial[0] < 0x80, "serial must be positive");
    if serial.len() == 17 {
        assert_eq!(serial[0], 0, "17 bytes only for a sign pad");
    }

    // Ed25519 signature, no parameters, inner and outer.
    assert_eq!(
        x509.signature_algorithm.algorithm.to_id_string(),
        "1.3.101.112"
    );
    assert!(x509.signature_algorithm.parameters.is_none());
    assert_eq!(tbs.signature.algorithm.to_id_string(), "1.3.101.112");
    assert_eq!(x509.signature_value.data.len(), 64);

    // Subject = issuer, exact RDN order and string types.
    let rdn = |oid: &[u8], tag: u8, value: &str| {
        tlv(
            0x31,
            &tlv(0x30, &[tlv(0x06, oid), tlv(tag, value.as_bytes())].concat()),
        )
    };
    let subject = tlv(
        0x30,
        &[
            rdn(&[0x55, 0x04, 0x06], 0x13, "AE"),
            rdn(&[0x55, 0x04, 0x08], 0x0c, "DUBAI"),
            rdn(&[0x55, 0x04, 0x0a], 0x0c, "TDLib Development"),
            rdn(&[0x55, 0x04, 0x0b], 0x0c, "Security"),
            rdn(&[0x55, 0x04, 0x03], 0x0c, "localhost"),
        ]
        .concat(),
    );
    assert_eq!(tbs.subject().as_raw(), subject.as_slice());
    assert_eq!(tbs.issuer().as_raw(), subject.as_slice());

    // Validity: UTCTime, exactly one day.
    let validity = tlv(
        0x30,
        &[tlv(0x17, b"231114221320Z"), tlv(0x17, b"231115221320Z")].concat(),
    );
    assert!(
        find(der, &validity).is_some(),
        "validity not encoded as two UTCTimes"
    );
    assert_eq!(tbs.validity().not_before.timestamp(), NOT_BEFORE as i64);
    assert_eq!(
        tbs.validity().not_after.timestamp(),
        NOT_BEFORE as i64 + 86_400
    );

    // SPKI.
    let spki = [
        hex::decode("302a300506032b6570032100").unwrap(),
        pubkey.to_vec(),
    ]
    .concat();
    assert_eq!(tbs.subject_pki.raw, spki.as_slice());

    // Extensions: order, criticality, values.
    let report_data = Sha512::digest(pubkey);
    let sha1_ski = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &pubkey);
    let expected: Vec<(&str, bool, Vec<u8>)> = vec![
        ("1.3.6.1.4.1.12345.1", true, report_data.to_vec()),
        ("1.3.6.1.4.1.12345.2", true, pubkey.to_vec()),
        ("2.5.29.19", true, hex::decode("3000").unwrap()),
        ("2.5.29.15", true, hex::decode("03020780").unwrap()),
        (
            "2.5.29.37",
            true,
            hex::decode("301406082b0601050507030106082b06010505070302").unwrap(),
        ),
        (
            "2.5.29.14",
            false,
            [vec![0x04, 0x14], sha1_ski.as_ref().to_vec()].concat(),
        ),
        (
            "2.5.29.17",
            false,
            hex::decode(concat!(
                "3028",
                "82096c6f63616c686f7374",               // dNSName localhost
                "82093132372e302e302e31",               // dNSName 127.0.0.1
                "871000000000000000000000000000000001", // iPAddress ::1
            ))
            .unwrap(),
        ),
    ];
    let actual: Vec<(String, bool, Vec<u8>)> = tbs
        .extensions()
        .iter()
        .map(|e| (e.oid.to_id_string(), e.critical, e.value.to_vec()))
        .collect();
    assert_eq!(actual.len(), expected.len(), "{actual:?}");
    for ((oid, critical, value), (exp_oid, exp_critical, exp_value)) in actual.iter().zip(&expected)
    {
        assert_eq!(oid, exp_oid);
        assert_eq!(critical, exp_critical, "criticality of {oid}");
        assert_eq!(hex::encode(value), hex::encode(exp_value), "value of {oid}");
    }
    // No AKI.
    assert!(tbs
        .extensions()
        .iter()
        .all(|e| e.oid.to_id_string() != "2.5.29.35"));

    // The fake-quote extension byte for byte: 30 4f 06 08 2b06010401e03901 0101ff 04 40 <64>.
    let quote_ext = [
        hex::decode("304f06082b06010401e039010101ff0440").unwrap(),
        report_data.to_vec(),
    ]
    .concat();
    assert!(
        find(der, &quote_ext).is_some(),
        "fake-quote extension DER not found"
    );

    // SAN: 127.0.0.1 is a dNSName, ::1 an iPAddress.
    let parsed = ParsedCert::from_der(der).unwrap();
    assert_eq!(
        parsed.san_dns,
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    );
    assert_eq!(
        parsed.san_ip,
        vec!["::1".parse::<std::net::IpAddr>().unwrap()]
    );
    parsed.verify_self_signature().unwrap();
}

#[test]
fn unattested_certificate_has_only_the_standard_extensions() {
    let made = cert::generate(None, at(NOT_BEFORE)).unwrap();
    let parsed = ParsedCert::from_der(made.cert_der()).unwrap();
    let oids: Vec<&str> = parsed.extensions.iter().map(|e| e.oid.as_str()).collect();
    assert_eq!(
        oids,
        [
            "2.5.29.19",
            "2.5.29.15",
            "2.5.29.37",
            "2.5.29.14",
            "2.5.29.17"
        ]
    );
    assert!(parsed.tdx_quote.is_none() && parsed.tdx_user_claims.is_none());
    assert_eq!(parsed.public_key, made.public_key());
}

#[test]
fn parsed_cert_fields_from_pem() {
    let key = CertKey::from_seed(&reference_seed());
    let made =
        cert::generate_with_key(key.clone(), Some(&FakeQuoteProvider), at(NOT_BEFORE)).unwrap();
    let pem = made.cert_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    let parsed = ParsedCert::from_pem(&pem).unwrap();
    assert_eq!(parsed.version, 3);
    assert_eq!(parsed.public_key, key.public_key());
    assert_eq!(parsed.not_before, NOT_BEFORE as i64);
    assert_eq!(parsed.not_after, NOT_BEFORE as i64 + 86_400);
    assert_eq!(
        parsed.tdx_quote.as_deref(),
        Some(cert::report_data_for_key(&key.public_key()).as_slice())
    );
    assert_eq!(
        parsed.tdx_user_claims.as_deref(),
        Some(key.public_key().as_slice())
    );
    assert!(parsed.sev_report.is_none());
    assert!(parsed.self_issued);
    assert_eq!(parsed.serial.len(), made_serial_len(made.cert_der()));
    assert_eq!(parsed.extensions.iter().filter(|e| e.critical).count(), 5);
}

fn made_serial_len(der: &[u8]) -> usize {
    X509Certificate::from_der(der)
        .unwrap()
        .1
        .tbs_certificate
        .raw_serial()
        .len()
}

#[test]
fn key_pem_is_pkcs8_v1_and_loads_back() {
    let key = CertKey::from_seed(&reference_seed());
    let der = key.to_pkcs8_v1_der();
    assert_eq!(der.len(), 48);
    assert_eq!(hex::encode(&der[..16]), "302e020100300506032b657004220420");
    assert_eq!(der[..16], PKCS8_V1_ED25519_PREFIX);
    assert_eq!(der[16..], reference_seed());
    let pem = key.to_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
    assert_eq!(
        CertKey::from_pem(&pem).unwrap().public_key(),
        key.public_key()
    );
}

#[test]
fn key_pem_v2_loads_and_mismatched_key_is_refused() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let seed = reference_seed();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
    let v2 = dalek.to_pkcs8_der().unwrap();
    assert_eq!(v2.as_bytes()[4], 0x01, "dalek writes PKCS#8 v2");
    let loaded = CertKey::from_pkcs8_der(v2.as_bytes()).unwrap();
    assert_eq!(loaded.public_key(), CertKey::from_seed(&seed).public_key());

    let made = cert::generate(None, at(NOT_BEFORE)).unwrap();
    let other = CertKey::from_seed(&[9; 32]);
    assert!(matches!(
        cert::CertAndKey::from_pem(&made.cert_pem(), &other.to_pem()),
        Err(cert::CertError::KeyMismatch)
    ));
    let back = cert::CertAndKey::from_pem(&made.cert_pem(), &made.key_pem()).unwrap();
    assert_eq!(back.cert_der(), made.cert_der());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(ParsedCert::from_der(&[]).is_err());
    assert!(ParsedCert::from_der(&[0x30, 0x82, 0xff, 0xff]).is_err());
    assert!(ParsedCert::from_pem("nothing here").is_err());
    assert!(
        CertKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .is_err()
    );
    let made = cert::generate(None, at(NOT_BEFORE)).unwrap();
    let der = made.cert_der();
    for cut in [1, der.len() / 2, der.len() - 1] {
        assert!(
            ParsedCert::from_der(&der[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    let mut trailing = der.to_vec();
    trailing.push(0);
    assert!(ParsedCert::from_der(&trailing).is_err());
}

#[test]
fn tampered_certificate_fails_self_signature() {
    let made = cert::generate(None, at(NOT_BEFORE)).unwrap();
    let mut der = made.cert_der().to_vec();
    // Change a byte of the subject (in the signed part).
    let pos = find(&der, b"DUBAI").unwrap();
    der[pos] = b'd';
    let parsed = ParsedCert::from_der(&der).unwrap();
    assert!(matches!(
        parsed.verify_self_signature(),
        Err(cert::CertError::BadSelfSignature(_))
    ));
}
