//! Tests of the policy builder: built-ins, `tdx` with a collateral file, a
//! router policy file, and the errors for bad files and unknown names. The
//! real-quote test reads `COCOON_VECTORS`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cocoon_tee::fake::FakeQuoteProvider;
use cocoon_tee::image_hash::ZERO_MEASUREMENTS_IMAGE_HASH;
use cocoon_tee::policy::expected_report_data;
use cocoon_tee::{AttestError, Evidence, QuoteProvider, TeeKind};

use super::*;

const KEY: [u8; 32] = [7; 32];

/// Collateral JSON with every field empty: parses, never verifies anything.
const EMPTY_COLLATERAL: &str = r#"{"pck_crl_issuer_chain":"","root_ca_crl":"","pck_crl":"",
"tcb_info_issuer_chain":"","tcb_info":"","tcb_info_signature":"",
"qe_identity_issuer_chain":"","qe_identity":"","qe_identity_signature":""}"#;

/// A file under the temp dir, unique to this process and `name`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(name: &str, contents: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("cocoon-node-policy-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn options(collateral: CollateralLocation, policy_file: Option<&TempFile>) -> PolicyOptions {
    PolicyOptions {
        collateral,
        policy_file: policy_file.map(|f| f.0.clone()),
        sev_pki: None,
        sev_pki_cache: None,
    }
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

fn fake_quote() -> Vec<u8> {
    FakeQuoteProvider
        .quote(&expected_report_data(&KEY))
        .expect("fake quote")
}

fn verify(policy: &NamedPolicy, quote: Option<&[u8]>) -> Result<TeeKind, AttestError> {
    let evidence = Evidence {
        public_key: &KEY,
        tdx_quote: quote,
        sev_report: None,
        sev_report_data: None,
        sev_vcek: None,
    };
    policy.policy.verify(&evidence, now()).map(|id| id.tee)
}

#[test]
fn collateral_location_is_a_url_or_a_file() {
    assert_eq!(
        CollateralLocation::parse("https://pccs.example:8081"),
        CollateralLocation::Service("https://pccs.example:8081".into())
    );
    assert_eq!(
        CollateralLocation::parse("http://127.0.0.1:8081"),
        CollateralLocation::Service("http://127.0.0.1:8081".into())
    );
    assert_eq!(
        CollateralLocation::parse("coll.json"),
        CollateralLocation::File("coll.json".into())
    );
    assert_eq!(
        PolicyOptions::default().collateral,
        CollateralLocation::Service("https://api.trustedservices.intel.com".into())
    );
}

#[test]
fn builtin_any_and_fake_behave_as_before() {
    let builder = PolicyBuilder::builtin();
    let any = builder.build("any").expect("any");
    assert_eq!(any.kind, PolicyKind::Any);
    assert_eq!(verify(&any, None), Ok(TeeKind::None));

    let fake = builder.build("fake").expect("fake");
    assert_eq!(fake.kind, PolicyKind::Fake);
    assert_eq!(verify(&fake, Some(&fake_quote())), Ok(TeeKind::Fake));
    assert_eq!(
        verify(&fake, None),
        Err(AttestError::QuoteMissing {
            policy: "fake".into()
        }),
        "the built-in fake policy refuses unattested peers"
    );
    assert_eq!(
        builder.build("fake_tee").map(|p| p.kind).ok(),
        Some(PolicyKind::Fake)
    );
}

#[test]
fn tdx_with_a_collateral_file_is_a_tdx_policy() {
    let file = TempFile::with("collateral.json", EMPTY_COLLATERAL);
    let builder = PolicyBuilder::new(&options(CollateralLocation::File(file.0.clone()), None))
        .expect("builder");
    assert_eq!(
        builder.collateral_location(),
        &CollateralLocation::File(file.0.clone())
    );
    for name in ["tdx", "tee"] {
        let tdx = builder.build(name).expect("tdx policy");
        assert_eq!((tdx.name.as_str(), tdx.kind), (name, PolicyKind::Tdx));
        assert_eq!(
            verify(&tdx, None),
            Err(AttestError::QuoteMissing {
                policy: name.into()
            })
        );
        assert_eq!(
            verify(&tdx, Some(&fake_quote())),
            Err(AttestError::FakeQuoteRejected {
                policy: name.into()
            })
        );
    }
}

#[test]
fn tdx_with_the_default_pcs_is_a_tdx_policy() {
    let tdx = PolicyBuilder::new(&PolicyOptions::default())
        .and_then(|b| b.build("tdx"))
        .expect("tdx policy");
    assert_eq!(tdx.kind, PolicyKind::Tdx);
}

#[test]
fn bad_collateral_file_is_a_clear_error() {
    let missing = std::env::temp_dir().join("cocoon-node-policy-no-such-collateral.json");
    let err = PolicyBuilder::new(&options(CollateralLocation::File(missing.clone()), None))
        .expect_err("missing file");
    let text = err.to_string();
    assert!(matches!(err, PolicyError::Collateral { .. }), "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");

    let garbage = TempFile::with("garbage-collateral.json", "{\"tcb_info\": 5}");
    let err = PolicyBuilder::new(&options(CollateralLocation::File(garbage.0.clone()), None))
        .expect_err("bad JSON");
    assert!(matches!(err, PolicyError::Collateral { .. }), "{err}");
    assert!(err.to_string().contains("collateral JSON"), "{err}");
}

#[test]
fn unknown_policy_name_lists_the_known_ones() {
    let err = PolicyBuilder::builtin()
        .build("strict")
        .expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "unknown policy 'strict' (known: any, fake, tdx)"
    );
}

const ROUTER_JSON: &str = r#"{
  "port": 8443,
  "policies": [
    { "name": "zero-image", "type": "fake_tee",
      "ratls_policy": { "tdx_config": { "allowed_image_hashes": [
        "ec00b4f24e8e1d6d1f7e6bb5b1a8a8f0f1c8ee3e1a71b22e8e16fb9fb8a6c0d1" ] } } },
    { "name": "prod", "type": "tee", "description": "real TDX, any image" }
  ]
}"#;

#[test]
fn router_json_policies_are_picked_by_name() {
    let zero = hex::encode(ZERO_MEASUREMENTS_IMAGE_HASH);
    let json = ROUTER_JSON.replace(
        "ec00b4f24e8e1d6d1f7e6bb5b1a8a8f0f1c8ee3e1a71b22e8e16fb9fb8a6c0d1",
        &zero,
    );
    let policies = TempFile::with("router.json", &json);
    let collateral = TempFile::with("router-collateral.json", EMPTY_COLLATERAL);
    let builder = PolicyBuilder::new(&options(
        CollateralLocation::File(collateral.0.clone()),
        Some(&policies),
    ))
    .expect("builder");

    let zero_image = builder.build("zero-image").expect("zero-image");
    assert_eq!(zero_image.kind, PolicyKind::Fake);
    assert_eq!(verify(&zero_image, Some(&fake_quote())), Ok(TeeKind::Fake));
    assert_eq!(
        verify(&zero_image, None),
        Err(AttestError::ImageHashRequiresAttestation {
            policy: "zero-image".into()
        })
    );

    let prod = builder.build("prod").expect("prod");
    assert_eq!(prod.kind, PolicyKind::Tdx);
    // A file policy keeps the reference's rule: no evidence and no image
    // hash required = accepted as unattested.
    assert_eq!(verify(&prod, None), Ok(TeeKind::None));

    assert_eq!(
        builder.build("any").map(|p| p.kind).ok(),
        Some(PolicyKind::Any)
    );
    let err = builder.build("staging").expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "unknown policy 'staging' (known: zero-image, prod, any, fake, tdx)"
    );
}

#[test]
fn router_json_allowlist_refuses_other_images() {
    let policies = TempFile::with("router-other.json", ROUTER_JSON);
    let builder = PolicyBuilder::new(&options(
        CollateralLocation::Service(DEFAULT_COLLATERAL.into()),
        Some(&policies),
    ))
    .expect("builder");
    let err = verify(
        &builder.build("zero-image").expect("policy"),
        Some(&fake_quote()),
    )
    .expect_err("image not on the allowlist");
    assert!(
        matches!(err, AttestError::ImageHashNotAllowed { .. }),
        "{err}"
    );
}

#[test]
fn bad_policy_file_is_a_clear_error() {
    let missing = std::env::temp_dir().join("cocoon-node-policy-no-such-router.json");
    let err = PolicyBuilder::new(&PolicyOptions {
        policy_file: Some(missing.clone()),
        sev_pki: None,
        sev_pki_cache: None,
        ..PolicyOptions::default()
    })
    .expect_err("missing file");
    assert!(matches!(err, PolicyError::PolicyFile { .. }), "{err}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    let bad = TempFile::with(
        "router-bad.json",
        r#"{"policies":[{"name":"p","type":"tee","ratls_policy":{"tdx_config":{"allowed_mrtd":["abc"]}}}]}"#,
    );
    let err = PolicyBuilder::new(&options(
        CollateralLocation::Service(DEFAULT_COLLATERAL.into()),
        Some(&bad),
    ))
    .expect_err("bad hex");
    let text = err.to_string();
    assert!(matches!(err, PolicyError::PolicyFile { .. }), "{text}");
    assert!(
        text.contains("policies[0].ratls_policy.tdx_config.allowed_mrtd[0]"),
        "{text}"
    );
}

#[test]
fn real_tdx_quote_passes_dcap_with_a_collateral_file() {
    let Some(dir) = std::env::var_os("COCOON_VECTORS").map(PathBuf::from) else {
        println!("skipped: COCOON_VECTORS not set");
        return;
    };
    let quote_path = dir.join("dcap-qvl/tdx_quote");
    let collateral_path = dir.join("dcap-qvl/tdx_quote_collateral.json");
    let quote =
        std::fs::read(&quote_path).unwrap_or_else(|e| panic!("{}: {e}", quote_path.display()));
    let (from, until) = cocoon_tee::dcap::Collateral::from_file(&collateral_path)
        .and_then(|c| c.validity_window())
        .unwrap_or_else(|e| panic!("{}: {e}", collateral_path.display()));
    let at = UNIX_EPOCH + Duration::from_secs(from + (until - from) / 2);

    let tdx = PolicyBuilder::new(&options(CollateralLocation::File(collateral_path), None))
        .and_then(|b| b.build("tdx"))
        .expect("tdx policy");
    let evidence = Evidence {
        public_key: &KEY,
        tdx_quote: Some(&quote),
        sev_report: None,
        sev_report_data: None,
        sev_vcek: None,
    };
    // DCAP accepts the quote; it is refused only because its report data is
    // not bound to our test key.
    assert_eq!(
        tdx.policy.verify(&evidence, at).map(|id| id.tee),
        Err(AttestError::ReportDataMismatch)
    );
}

#[test]
fn sev_pki_turns_sev_evidence_from_unsupported_into_verified() {
    const REPORT: &[u8] = include_bytes!("../../../cocoon-tee/tests/data/sev/milan_report.bin");
    const VCEK: &[u8] = include_bytes!("../../../cocoon-tee/tests/data/sev/milan_vcek.der");
    let chain = format!(
        "{}{}",
        include_str!("../../../cocoon-tee/src/sev/roots/milan_ask.pem"),
        include_str!("../../../cocoon-tee/src/sev/roots/milan_ark.pem")
    );
    let pki = TempFile::with("Milan.cert_chain.pem", &chain);
    let binding = expected_report_data(&KEY);
    let evidence = Evidence {
        public_key: &KEY,
        tdx_quote: None,
        sev_report: Some(REPORT),
        sev_report_data: Some(&binding),
        sev_vcek: Some(VCEK),
    };
    let at = UNIX_EPOCH + Duration::from_secs(1_796_688_000);
    let collateral = TempFile::with("sev-empty-collateral.json", EMPTY_COLLATERAL);
    let without = PolicyBuilder::new(&options(
        CollateralLocation::File(collateral.0.clone()),
        None,
    ))
    .and_then(|b| b.build("tdx"))
    .expect("tdx policy");
    assert!(matches!(
        without.policy.verify(&evidence, at),
        Err(AttestError::SevSnpUnsupported { .. })
    ));
    let with = PolicyBuilder::new(&PolicyOptions {
        sev_pki: Some(pki.0.clone()),
        sev_pki_cache: None,
        ..options(CollateralLocation::File(collateral.0.clone()), None)
    })
    .and_then(|b| b.build("tdx"))
    .expect("tdx policy with SEV-SNP collateral");
    // Genuine AMD chain, but no CRL in the collateral: refused by the verifier.
    assert!(matches!(
        with.policy.verify(&evidence, at),
        Err(AttestError::SevSnp(
            cocoon_tee::sev::SevError::CollateralMissing { .. }
        ))
    ));

    let missing = std::env::temp_dir().join("cocoon-node-policy-no-such-sev-pki");
    let err = PolicyBuilder::new(&PolicyOptions {
        sev_pki: Some(missing),
        sev_pki_cache: None,
        ..PolicyOptions::default()
    })
    .expect_err("missing SEV collateral");
    assert!(matches!(err, PolicyError::SevCollateral { .. }), "{err}");

    // A KDS URL: fetched at the first SEV-SNP peer; nothing listens there,
    // so that peer is refused saying the collateral is unavailable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let kds = PolicyBuilder::new(&PolicyOptions {
        sev_pki: Some(format!("http://127.0.0.1:{port}").into()),
        sev_pki_cache: None,
        ..options(CollateralLocation::File(collateral.0.clone()), None)
    })
    .and_then(|b| b.build("tdx"))
    .expect("tdx policy with a KDS");
    let refused = kds.policy.verify(&evidence, at);
    assert!(
        matches!(
            &refused,
            Err(AttestError::SevSnp(
                cocoon_tee::sev::SevError::CollateralUnavailable { detail }
            )) if detail.contains("/vcek/v1/Milan/cert_chain")
        ),
        "{refused:?}"
    );
}
