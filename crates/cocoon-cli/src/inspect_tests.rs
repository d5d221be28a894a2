//! Tests of `cocoon inspect` (TDX, fake and SEV-SNP inputs).

use super::*;

fn no_verify() -> VerifyArgs {
    VerifyArgs {
        collateral: None,
        sev_pki: None,
        vcek: None,
        at: None,
        allow_debug: false,
    }
}

#[test]
fn fake_quote_prints_tee_type_fake() {
    let rd = [5u8; 64];
    let (out, failure) = inspect_quote(&rd, &no_verify()).expect("inspects");
    assert!(failure.is_none());
    assert_eq!(out["tee_type"], json!("fake"));
    assert_eq!(out["version"], Value::Null);
    assert_eq!(out["report_data"], json!(hex::encode(rd)));
    assert_eq!(
        out["image_hash"],
        json!(hex::encode(ZERO_MEASUREMENTS_IMAGE_HASH))
    );
    assert_eq!(out["rtmr"].as_array().map(Vec::len), Some(4));
    assert_eq!(out["debug"], json!(false));
}

#[test]
fn fake_quote_never_verifies() {
    let args = VerifyArgs {
        collateral: Some("/nonexistent.json".into()),
        sev_pki: None,
        vcek: None,
        at: Some(1),
        allow_debug: false,
    };
    let (out, failure) = inspect_quote(&[5u8; 64], &args).expect("inspects");
    assert_eq!(out["verified"], json!(false));
    assert!(failure.is_some_and(|f| f.contains("fake")));
}

#[test]
fn hex_text_input_is_decoded() {
    let text = hex::encode([7u8; 64]);
    assert_eq!(quote_bytes(text.as_bytes()), vec![7u8; 64]);
    assert_eq!(quote_bytes(&[1, 2, 3]), vec![1, 2, 3]);
    assert_eq!(
        quote_bytes(&[b'a'; 64]),
        vec![b'a'; 64],
        "64 raw bytes stay raw"
    );
}

#[test]
fn fake_cert_shows_the_bound_fake_quote() {
    let provider = cocoon_tee::fake::FakeQuoteProvider;
    let cert = cocoon_tee::cert::generate(Some(&provider), SystemTime::now()).expect("fake cert");
    let (out, failure) = inspect_cert(cert.cert_pem().as_bytes(), &no_verify()).expect("inspects");
    assert!(failure.is_none());
    assert_eq!(out["tee_type"], json!("fake"));
    assert_eq!(out["public_key"], json!(hex::encode(cert.public_key())));
    assert_eq!(out["report_data_matches_key"], json!(true));
    let plain = cocoon_tee::cert::generate(None, SystemTime::now()).expect("plain cert");
    let (out, _) = inspect_cert(plain.cert_pem().as_bytes(), &no_verify()).expect("inspects");
    assert_eq!(out["tee_type"], json!("none"));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(inspect_quote(&[1, 2, 3, 4, 5], &no_verify()).is_err());
    assert!(inspect_cert(b"not a cert", &no_verify()).is_err());
}

const MILAN_REPORT: &[u8] = include_bytes!("../../cocoon-tee/tests/data/sev/milan_report.bin");
const MILAN_VCEK: &[u8] = include_bytes!("../../cocoon-tee/tests/data/sev/milan_vcek.der");
const MILAN_ARK: &str = include_str!("../../cocoon-tee/src/sev/roots/milan_ark.pem");
const MILAN_ASK: &str = include_str!("../../cocoon-tee/src/sev/roots/milan_ask.pem");
/// 2026-12-08: inside the Milan VCEK's validity.
const SEV_NOW: u64 = 1_796_688_000;

fn milan_measurement_hex() -> String {
    hex::encode(&MILAN_REPORT[0x90..0xC0])
}

#[test]
fn sev_report_prints_measurement_and_image_hash() {
    assert!(looks_like_sev_report(MILAN_REPORT));
    let (out, failure) = inspect_quote(MILAN_REPORT, &no_verify()).expect("inspects");
    assert!(failure.is_none());
    assert_eq!(out["tee_type"], json!("sev-snp"));
    assert_eq!(out["version"], json!(2));
    assert_eq!(out["measurement"], json!(milan_measurement_hex()));
    let measurement: [u8; 48] = MILAN_REPORT[0x90..0xC0].try_into().expect("48");
    let hash = cocoon_tee::sev::sev_image_hash(&measurement);
    assert_eq!(out["image_hash"], json!(hex::encode(hash)));
    assert_eq!(out["vmpl"], json!(0));
    assert_eq!(out["debug"], json!(false));
    assert_eq!(out["policy"], json!("0x30000"));
    // Version 2: TCB read in the Milan/Genoa layout (bl 3, tee 0, snp 8, ucode 0x73).
    assert_eq!(out["reported_tcb"]["SNP"], json!(8));
    assert_eq!(out["reported_tcb"]["microcode"], json!(0x73));
    assert_eq!(
        out["chip_id"],
        json!(hex::encode(&MILAN_REPORT[0x1A0..0x1E0]))
    );
}

/// A file in a fresh temporary directory, removed with it.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cocoon-inspect-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn sev_report_verification_without_a_crl_fails_clearly() {
    let dir = TempDir::new("sev-no-crl");
    let pki = dir.file(
        "Milan.cert_chain.pem",
        format!("{MILAN_ASK}{MILAN_ARK}").as_bytes(),
    );
    let vcek = dir.file("vcek.der", MILAN_VCEK);
    let args = VerifyArgs {
        sev_pki: Some(pki),
        vcek: Some(vcek),
        at: Some(SEV_NOW),
        ..no_verify()
    };
    let (out, failure) = inspect_quote(MILAN_REPORT, &args).expect("inspects");
    let failure = failure.expect("no CRL: not verified");
    assert!(failure.contains("lacks"), "{failure}");
    assert_eq!(out["verified"], json!(false));
    assert_eq!(out["verified_at"], json!(SEV_NOW));
    assert_eq!(out["measurement"], json!(milan_measurement_hex()));
}

#[test]
fn sev_cert_shows_the_report_and_its_vcek() {
    let key = cocoon_tee::cert::CertKey::generate();
    let vcek_pem = cocoon_tee::cert::pem_encode("CERTIFICATE", MILAN_VCEK);
    let made = cocoon_tee::cert::generate_with_sev_evidence(
        key,
        MILAN_REPORT.to_vec(),
        vcek_pem.into_bytes(),
        SystemTime::now(),
    )
    .expect("SEV cert");
    let (out, failure) = inspect_cert(made.cert_pem().as_bytes(), &no_verify()).expect("inspects");
    assert!(failure.is_none());
    assert_eq!(out["tee_type"], json!("sev-snp"));
    assert_eq!(out["measurement"], json!(milan_measurement_hex()));
    assert_eq!(out["vcek_product_name"], json!("Milan-B0"));
    // The genuine report was requested for another key.
    assert_eq!(out["report_data_matches_key"], json!(false));

    let dcap_only = VerifyArgs {
        collateral: Some("/nonexistent.json".into()),
        ..no_verify()
    };
    let (out, failure) = inspect_cert(made.cert_pem().as_bytes(), &dcap_only).expect("inspects");
    assert!(failure.is_some_and(|f| f.contains("--sev-pki")));
    assert_eq!(out["verified"], json!(false));
}
