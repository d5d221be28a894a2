//! Every test vector parses to the expected fields; the dcap-qvl vectors
//! verify (or are rejected for their TCB status) against their collateral at a
//! time inside its validity window. Needs `COCOON_VECTORS`.

mod attest_support;

use attest_support::{collateral, read, time_inside, vectors};
use cocoon_tee::dcap::{root_key_id_of_cert, DcapVerifier, INTEL_ROOT_KEY_ID};
use cocoon_tee::image_hash::{sgx_image_hash, tdx_image_hash, to_base64};
use cocoon_tee::quote::{ParsedQuote, CERT_TYPE_PCK_CHAIN};
use cocoon_tee::{AttestError, TeeKind};

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[test]
fn cocoon_test_quote_decodes_to_the_documented_fields() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "cocoon-test-quote.dat");
    assert_eq!(raw.len(), 5010);
    let q = ParsedQuote::parse(&raw).expect("test quote parses");
    assert_eq!(
        (q.header.version, q.header.att_key_type, q.header.tee_type),
        (4, 2, 0x81)
    );
    assert_eq!(
        h(&q.header.qe_vendor_id),
        "939a7233f79c4ca9940a0db3957f0607"
    );
    assert_eq!(
        h(&q.header.user_data),
        "1a94ba357ce7e19533b25d495965728300000000"
    );
    assert_eq!(q.tee_kind(), TeeKind::Tdx);
    let td = q.td_report().expect("TD 1.0 body");
    assert!(td.td15.is_none());
    assert_eq!(h(&td.tee_tcb_svn), "07010300000000000000000000000000");
    assert_eq!(
        h(&td.mr_seam),
        "49b66faa451d19ebbdbe89371b8daf2b65aa3984ec90110343e9e2eec116af08850fa20e3b1aa9a874d77a65380ee7e6"
    );
    assert_eq!(td.mr_signer_seam, [0; 48]);
    assert_eq!(td.seam_attributes, [0; 8]);
    assert_eq!(h(&td.td_attributes), "0000001000000000");
    assert!(!q.is_debug());
    assert_eq!(h(&td.xfam), "e702060000000000");
    assert_eq!(
        h(&td.mr_td),
        "7357a10d2e2724dffe68813e3cc4cfcde6814d749f2fb62e3953e54f6e0b50a219786afe2cd478f684b52c61837e1114"
    );
    assert_eq!(
        (td.mr_config_id, td.mr_owner, td.mr_owner_config),
        ([0; 48], [0; 48], [0; 48])
    );
    assert_eq!(
        h(&td.rtmr[0]),
        "251a7f3cfc68006349444307c686485986beea461740437dae618e22a7aaac4ec0233ae0190eb1ce92ab8e9966563acc"
    );
    assert_eq!(
        h(&td.rtmr[1]),
        "7a6eb32a914226f429922564bb0ae0a7c7c413ba5a8ef055b481f6328108da335013b79c391dcc237f7e563674ce7787"
    );
    assert_eq!(
        h(&td.rtmr[2]),
        "aaccda38cf2bdee9965664d6793c9eaa93349564a052f36db45da5db656abe7b909d92cad5a29287f2bb78761771fec4"
    );
    assert_eq!(td.rtmr[3], [0; 48]);
    assert_eq!(
        h(&td.report_data),
        "d21efaa8d7de2b0f5601df8b24cfbca690c5231e677d0fe35954c8be00614bd2\
         7f467a5624a6667aa74506cb14c271a48894c3ef11d2d26b269a2926fc74f87b"
    );
    let image_hash = tdx_image_hash(&q.tdx_measurements().expect("measurements"));
    assert_eq!(
        h(&image_hash),
        "04b3afd931d28680af91a15b09d672c40ad6b141f7f9089a8d67d595220f7436"
    );
    assert_eq!(
        to_base64(&image_hash),
        "BLOv2THShoCvkaFbCdZyxArWsUH3+QiajWfVlSIPdDY="
    );

    // Signature section: 4 304 bytes, then 70 bytes of zero padding.
    assert_eq!(q.signature_data.len(), 4304);
    assert_eq!(q.trailing_len, 70);
    let sig = q.signature().expect("signature section");
    assert!(h(&sig.qe_report.mr_enclave).starts_with("e5a3a7b5"));
    assert!(h(&sig.qe_report.mr_signer).starts_with("dc9e2a7c"));
    assert_eq!((sig.qe_report.isv_prod_id, sig.qe_report.isv_svn), (2, 6));
    assert_eq!(sig.qe_auth_data, (0u8..32).collect::<Vec<_>>());
    assert_eq!(sig.certification.cert_type, CERT_TYPE_PCK_CHAIN);
    let chain = sig.pck_chain_der().expect("PCK chain");
    assert_eq!(chain.len(), 3);
    let root = chain.last().expect("root");
    assert_eq!(
        root_key_id_of_cert(root).expect("root key id"),
        INTEL_ROOT_KEY_ID
    );
}

#[test]
fn dcap_vectors_parse() {
    let Some(dir) = vectors() else { return };
    for (name, version, tee) in [
        ("dcap-qvl/tdx_quote", 4, TeeKind::Tdx),
        ("dcap-qvl/tdx_quote_outdated", 5, TeeKind::Tdx),
        ("dcap-qvl/sgx_quote", 3, TeeKind::Sgx),
    ] {
        let q = ParsedQuote::parse(&read(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((q.header.version, q.tee_kind()), (version, tee), "{name}");
        let chain = q
            .signature()
            .and_then(|s| s.pck_chain_der())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(chain.len() >= 2, "{name}: PCK chain");
    }
    let sgx = ParsedQuote::parse(&read(&dir, "dcap-qvl/sgx_quote")).expect("sgx");
    let body = sgx.sgx_report().expect("sgx body");
    assert_eq!(sgx_image_hash(&body.mr_enclave).len(), 32);
    assert!(sgx.tdx_measurements().is_none());
}

#[test]
fn tdx_quote_verifies_with_its_collateral() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    let now = time_inside(&collateral);
    let report = DcapVerifier::new()
        .verify(&raw, &collateral, now)
        .expect("verifies");
    assert_eq!(report.tcb_status, "UpToDate");
    assert_eq!(report.root_key_id, INTEL_ROOT_KEY_ID);
    assert!(report.collateral_expires_at >= now);
    assert_eq!(report.quote.tee_kind(), TeeKind::Tdx);
}

#[test]
fn collateral_is_rejected_outside_its_window() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    let (_, until) = collateral.validity_window().expect("window");
    let err = DcapVerifier::new()
        .verify(&raw, &collateral, until + 86_400)
        .unwrap_err();
    assert!(
        matches!(err, AttestError::CollateralExpired { .. }),
        "{err}"
    );
}

#[test]
fn outdated_tcb_is_rejected_naming_the_status() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote_outdated");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_outdated_collateral.json");
    let now = time_inside(&collateral);
    let err = DcapVerifier::new()
        .verify(&raw, &collateral, now)
        .unwrap_err();
    match &err {
        // dcap-qvl 0.7 finds the platform older than every TCB level listed
        // (Intel's TCB_NOT_SUPPORTED), so the status is NotSupported.
        AttestError::TcbNotUpToDate { status, .. } => assert_eq!(status, "NotSupported"),
        other => panic!("expected TcbNotUpToDate, got {other}"),
    }
    assert!(
        err.to_string().contains("TCB status is NotSupported"),
        "{err}"
    );
}

#[test]
fn tampered_quote_byte_breaks_the_signature() {
    let Some(dir) = vectors() else { return };
    let mut raw = read(&dir, "dcap-qvl/tdx_quote");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    raw[184] ^= 0x01; // first MRTD byte
    let err = DcapVerifier::new()
        .verify(&raw, &collateral, time_inside(&collateral))
        .unwrap_err();
    assert!(matches!(err, AttestError::SignatureInvalid { .. }), "{err}");
}

#[test]
fn root_key_outside_the_verifier_allowlist_is_rejected() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    let verifier = DcapVerifier::new().with_allowed_root_key_ids(vec![[0x11; 48]]);
    let err = verifier
        .verify(&raw, &collateral, time_inside(&collateral))
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::RootKeyNotAllowed {
            root_key_id: hex::encode(INTEL_ROOT_KEY_ID)
        }
    );
}

#[test]
fn sgx_quote_signatures_check_with_its_collateral() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/sgx_quote");
    let collateral = collateral(&dir, "dcap-qvl/sgx_quote_collateral.json");
    let report = DcapVerifier::new()
        .check_signatures(&raw, &collateral, time_inside(&collateral))
        .expect("sgx verifies");
    assert_eq!(report.quote.tee_kind(), TeeKind::Sgx);
    assert_eq!(report.root_key_id, INTEL_ROOT_KEY_ID);
    println!("sgx_quote TCB status: {}", report.tcb_status);
}
