//! Policy decisions: each rejection has its own error. Tests that need a real
//! quote read `COCOON_VECTORS`; the others run everywhere.

mod attest_support;

use std::sync::Arc;

use attest_support::{collateral, read, synthetic_tdx_quote, system_time, time_inside, vectors};
use cocoon_tee::cache::{CachedVerifier, QuoteCache};
use cocoon_tee::dcap::{check_debug, DcapVerifier, FixedCollateral, INTEL_ROOT_KEY_ID};
use cocoon_tee::fake::{fake_report, FakeQuoteProvider};
use cocoon_tee::image_hash::{tdx_image_hash, ZERO_MEASUREMENTS_IMAGE_HASH};
use cocoon_tee::policy::{
    check_tdx_identity, expected_report_data, AnyPolicy, FakePolicy, PolicyConfig, PolicyKind,
    TdxPolicy,
};
use cocoon_tee::quote::{ParsedQuote, MAX_QUOTE_SIZE, TD_ATTR_DEBUG, TD_ATTR_SEPT_VE_DISABLE};
use cocoon_tee::{
    AttestError, AttestationPolicy, Evidence, PeerIdentity, QuoteProvider, TdxMeasurements, TeeKind,
};

const KEY: [u8; 32] = [0x42; 32];
const OTHER_KEY: [u8; 32] = [0x43; 32];

fn evidence<'a>(key: &'a [u8; 32], quote: Option<&'a [u8]>) -> Evidence<'a> {
    Evidence {
        public_key: key,
        tdx_quote: quote,
        sev_report: None,
        sev_report_data: None,
        sev_vcek: None,
    }
}

fn fake(config: PolicyConfig) -> FakePolicy {
    FakePolicy {
        name: "fake".into(),
        config,
    }
}

fn any(config: PolicyConfig) -> AnyPolicy {
    AnyPolicy {
        name: "any".into(),
        config,
    }
}

/// A tdx policy whose collateral is the dcap-qvl vector's (never reached by
/// the tests that run without vectors).
fn tdx_policy(
    config: PolicyConfig,
    collateral_json: Option<cocoon_tee::dcap::Collateral>,
) -> TdxPolicy {
    let collateral = collateral_json.unwrap_or_else(|| {
        cocoon_tee::dcap::Collateral::new(dcap_qvl::QuoteCollateralV3 {
            pck_crl_issuer_chain: String::new(),
            root_ca_crl: Vec::new(),
            pck_crl: Vec::new(),
            tcb_info_issuer_chain: String::new(),
            tcb_info: String::new(),
            tcb_info_signature: Vec::new(),
            qe_identity_issuer_chain: String::new(),
            qe_identity: String::new(),
            qe_identity_signature: Vec::new(),
            pck_certificate_chain: None,
        })
    });
    let verification = CachedVerifier::new(
        DcapVerifier::new(),
        Arc::new(FixedCollateral(Arc::new(collateral))),
        Some(Arc::new(QuoteCache::default())),
    );
    TdxPolicy {
        name: "tdx".into(),
        config,
        verification,
        sev: None,
    }
}

fn now() -> std::time::SystemTime {
    system_time(1_750_000_000)
}

// ---------------------------------------------------------------- fake / any

#[test]
fn fake_policy_accepts_a_fake_quote_bound_to_the_key() {
    let quote = FakeQuoteProvider
        .quote(&expected_report_data(&KEY))
        .expect("fake quote");
    let id = fake(PolicyConfig::default())
        .verify(&evidence(&KEY, Some(&quote)), now())
        .expect("accepted");
    assert_eq!(id.tee, TeeKind::Fake);
    assert_eq!(id.image_hash, ZERO_MEASUREMENTS_IMAGE_HASH);
    assert_eq!(id.root_key_id, None);
    let m = id.tdx.expect("fake measurements");
    assert_eq!(
        (m.mr_td, m.rtmr, m.report_data),
        ([0; 48], [[0; 48]; 4], expected_report_data(&KEY))
    );
    // The April-2026 496-byte form is accepted too.
    let report = fake_report(&expected_report_data(&KEY));
    assert_eq!(
        fake(PolicyConfig::default())
            .verify(&evidence(&KEY, Some(&report)), now())
            .map(|i| i.tee),
        Ok(TeeKind::Fake)
    );
}

#[test]
fn fake_quote_for_another_key_is_a_report_data_mismatch() {
    let quote = FakeQuoteProvider
        .quote(&expected_report_data(&OTHER_KEY))
        .expect("fake quote");
    let err = fake(PolicyConfig::default())
        .verify(&evidence(&KEY, Some(&quote)), now())
        .unwrap_err();
    assert_eq!(err, AttestError::ReportDataMismatch);
}

#[test]
fn fake_policy_allowlists_apply_to_zero_measurements() {
    let quote = expected_report_data(&KEY);
    let config = PolicyConfig {
        allowed_image_hashes: vec![[1; 32]],
        ..PolicyConfig::default()
    };
    let err = fake(config)
        .verify(&evidence(&KEY, Some(&quote)), now())
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::ImageHashNotAllowed {
            image_hash: hex::encode(ZERO_MEASUREMENTS_IMAGE_HASH)
        }
    );
    let config = PolicyConfig {
        allowed_image_hashes: vec![ZERO_MEASUREMENTS_IMAGE_HASH],
        ..PolicyConfig::default()
    };
    assert!(fake(config)
        .verify(&evidence(&KEY, Some(&quote)), now())
        .is_ok());
}

#[test]
fn real_quote_under_fake_policy_is_rejected() {
    let quote = synthetic_tdx_quote(1, TD_ATTR_SEPT_VE_DISABLE);
    let err = fake(PolicyConfig::default())
        .verify(&evidence(&KEY, Some(&quote)), now())
        .unwrap_err();
    assert_eq!(err, AttestError::NotAFakeQuote { len: quote.len() });
    if let Some(dir) = vectors() {
        let real = read(&dir, "cocoon-test-quote.dat");
        let err = fake(PolicyConfig::default())
            .verify(&evidence(&KEY, Some(&real)), now())
            .unwrap_err();
        assert_eq!(err, AttestError::NotAFakeQuote { len: 5010 });
    }
}

#[test]
fn any_policy_ignores_evidence_unless_it_must_check_image_hashes() {
    let garbage = [0xffu8; 10];
    let id = any(PolicyConfig::default())
        .verify(&evidence(&KEY, Some(&garbage)), now())
        .expect("any");
    assert_eq!(
        (id.tee, id.image_hash, id.tdx),
        (TeeKind::None, ZERO_MEASUREMENTS_IMAGE_HASH, None)
    );
    let config = PolicyConfig {
        allowed_image_hashes: vec![[1; 32]],
        ..PolicyConfig::default()
    };
    let err = any(config)
        .verify(&evidence(&KEY, Some(&garbage)), now())
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::ImageHashRequiresAttestation {
            policy: "any".into()
        }
    );
}

// ------------------------------------------------------ the "no extensions" rule

#[test]
fn peer_without_evidence_passes_every_policy_without_image_hash_allowlist() {
    let unattested = |id: PeerIdentity| (id.tee, id.image_hash, id.public_key);
    let expected = (TeeKind::None, ZERO_MEASUREMENTS_IMAGE_HASH, KEY);
    let e = evidence(&KEY, None);
    assert_eq!(
        any(PolicyConfig::default())
            .verify(&e, now())
            .map(unattested),
        Ok(expected)
    );
    assert_eq!(
        fake(PolicyConfig::default())
            .verify(&e, now())
            .map(unattested),
        Ok(expected)
    );
    assert_eq!(
        tdx_policy(PolicyConfig::default(), None)
            .verify(&e, now())
            .map(unattested),
        Ok(expected)
    );
    // MRTD allowlists do not matter, image hash allowlists (TDX or SEV) do.
    let mrtd_only = PolicyConfig {
        allowed_mrtd: vec![[1; 48]],
        ..PolicyConfig::default()
    };
    assert!(tdx_policy(mrtd_only, None).verify(&e, now()).is_ok());
    let sev_hashes = PolicyConfig {
        sev_allowed_image_hashes: vec![[1; 32]],
        ..PolicyConfig::default()
    };
    assert_eq!(
        tdx_policy(sev_hashes, None).verify(&e, now()).unwrap_err(),
        AttestError::ImageHashRequiresAttestation {
            policy: "tdx".into()
        }
    );
}

#[test]
fn require_evidence_refuses_unattested_peers() {
    let config = PolicyConfig {
        require_evidence: true,
        ..PolicyConfig::default()
    };
    let err = tdx_policy(config, None)
        .verify(&evidence(&KEY, None), now())
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::QuoteMissing {
            policy: "tdx".into()
        }
    );
}

// ------------------------------------------------- tdx policy, no vectors needed

#[test]
fn oversize_quote_is_rejected() {
    let quote = vec![0u8; MAX_QUOTE_SIZE + 1];
    let err = tdx_policy(PolicyConfig::default(), None)
        .verify(&evidence(&KEY, Some(&quote)), now())
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::QuoteTooLarge {
            size: MAX_QUOTE_SIZE + 1,
            max: MAX_QUOTE_SIZE
        }
    );
    let err = fake(PolicyConfig::default())
        .verify(&evidence(&KEY, Some(&quote)), now())
        .unwrap_err();
    assert!(matches!(err, AttestError::QuoteTooLarge { .. }), "{err}");
}

#[test]
fn fake_quote_under_tdx_policy_is_rejected() {
    let policy = tdx_policy(PolicyConfig::default(), None);
    let quote = FakeQuoteProvider
        .quote(&expected_report_data(&KEY))
        .expect("fake quote");
    let err = policy
        .verify(&evidence(&KEY, Some(&quote)), now())
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::FakeQuoteRejected {
            policy: "tdx".into()
        }
    );
    let report = fake_report(&expected_report_data(&KEY));
    let err = policy
        .verify(&evidence(&KEY, Some(&report)), now())
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::FakeQuoteRejected {
            policy: "tdx".into()
        }
    );
}

#[test]
fn garbage_quote_is_malformed() {
    let err = tdx_policy(PolicyConfig::default(), None)
        .verify(&evidence(&KEY, Some(&[7u8; 100])), now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::QuoteUnsupported { .. } | AttestError::QuoteMalformed { .. }
        ),
        "{err}"
    );
}

#[test]
fn sev_and_conflicting_evidence() {
    let sev = Evidence {
        public_key: &KEY,
        tdx_quote: None,
        sev_report: Some(&[0u8; 1184]),
        sev_report_data: None,
        sev_vcek: None,
    };
    let err = tdx_policy(PolicyConfig::default(), None)
        .verify(&sev, now())
        .unwrap_err();
    assert_eq!(
        err,
        AttestError::SevSnpUnsupported {
            policy: "tdx".into()
        }
    );
    let both = Evidence {
        public_key: &KEY,
        tdx_quote: Some(&[0u8; 64]),
        sev_report: Some(&[0u8; 1184]),
        sev_report_data: None,
        sev_vcek: None,
    };
    assert_eq!(
        fake(PolicyConfig::default())
            .verify(&both, now())
            .unwrap_err(),
        AttestError::ConflictingEvidence
    );
}

#[test]
fn policy_kind_names() {
    for (name, kind) in [
        ("any", PolicyKind::Any),
        ("fake", PolicyKind::Fake),
        ("fake_tee", PolicyKind::Fake),
        ("fake_tdx", PolicyKind::Fake),
        ("tdx", PolicyKind::Tdx),
        ("tee", PolicyKind::Tdx),
    ] {
        assert_eq!(PolicyKind::parse(name), Some(kind), "{name}");
    }
    assert_eq!(PolicyKind::parse("TDX"), None);
    assert_eq!(PolicyKind::Fake.reference_name(), "fake_tee");
}

// ---------------------------------------- post-DCAP checks on parsed bodies (seam)

/// Measurements of a quote as if it were bound to `KEY`.
fn bound(mut m: TdxMeasurements) -> TdxMeasurements {
    m.report_data = expected_report_data(&KEY);
    m
}

fn measured() -> TdxMeasurements {
    let q =
        ParsedQuote::parse(&synthetic_tdx_quote(0x12, TD_ATTR_SEPT_VE_DISABLE)).expect("synthetic");
    bound(q.tdx_measurements().expect("td"))
}

#[test]
fn each_allowlist_rejects_with_its_own_error() {
    let m = measured();
    let image_hash = tdx_image_hash(&m);
    let root = INTEL_ROOT_KEY_ID;
    let open = PolicyConfig::default();
    assert_eq!(
        check_tdx_identity(&open, &KEY, &m, Some(&root)),
        Ok(image_hash)
    );

    let c = PolicyConfig {
        allowed_mrtd: vec![[9; 48]],
        ..PolicyConfig::default()
    };
    assert_eq!(
        check_tdx_identity(&c, &KEY, &m, Some(&root)),
        Err(AttestError::MrtdNotAllowed {
            mrtd: hex::encode(m.mr_td)
        })
    );
    let c = PolicyConfig {
        allowed_mrtd: vec![[9; 48], m.mr_td],
        ..PolicyConfig::default()
    };
    assert!(check_tdx_identity(&c, &KEY, &m, Some(&root)).is_ok());

    let mut other = m.rtmr;
    other[3] = [1; 48];
    let c = PolicyConfig {
        allowed_rtmr: vec![other],
        ..PolicyConfig::default()
    };
    assert_eq!(
        check_tdx_identity(&c, &KEY, &m, Some(&root)),
        Err(AttestError::RtmrNotAllowed {
            rtmr0: hex::encode(m.rtmr[0])
        })
    );
    let c = PolicyConfig {
        allowed_rtmr: vec![other, m.rtmr],
        ..PolicyConfig::default()
    };
    assert!(check_tdx_identity(&c, &KEY, &m, Some(&root)).is_ok());

    let c = PolicyConfig {
        allowed_image_hashes: vec![[3; 32]],
        ..PolicyConfig::default()
    };
    assert_eq!(
        check_tdx_identity(&c, &KEY, &m, Some(&root)),
        Err(AttestError::ImageHashNotAllowed {
            image_hash: hex::encode(image_hash)
        })
    );
    let c = PolicyConfig {
        allowed_image_hashes: vec![image_hash],
        ..PolicyConfig::default()
    };
    assert!(check_tdx_identity(&c, &KEY, &m, Some(&root)).is_ok());

    let c = PolicyConfig {
        allowed_root_key_ids: vec![[4; 48]],
        ..PolicyConfig::default()
    };
    assert_eq!(
        check_tdx_identity(&c, &KEY, &m, Some(&root)),
        Err(AttestError::RootKeyNotAllowed {
            root_key_id: hex::encode(root)
        })
    );
    let c = PolicyConfig {
        allowed_root_key_ids: vec![root],
        ..PolicyConfig::default()
    };
    assert!(check_tdx_identity(&c, &KEY, &m, Some(&root)).is_ok());

    assert_eq!(
        check_tdx_identity(&open, &OTHER_KEY, &m, Some(&root)),
        Err(AttestError::ReportDataMismatch)
    );
}

#[test]
fn debug_td_is_rejected_unless_allowed() {
    let raw = synthetic_tdx_quote(0x12, TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_DEBUG);
    let q = ParsedQuote::parse(&raw).expect("synthetic");
    assert!(q.is_debug());
    let m = bound(q.tdx_measurements().expect("td"));
    assert!(m.debug);
    let err = check_tdx_identity(&PolicyConfig::default(), &KEY, &m, None).unwrap_err();
    assert!(matches!(err, AttestError::DebugTd { .. }), "{err}");
    let allow = PolicyConfig {
        allow_debug: true,
        ..PolicyConfig::default()
    };
    assert!(check_tdx_identity(&allow, &KEY, &m, None).is_ok());
    // The DCAP appraisal applies the same rule to the parsed quote.
    assert_eq!(
        check_debug(&q, false),
        Err(AttestError::DebugTd {
            attributes: "0100001000000000".into()
        })
    );
    assert_eq!(check_debug(&q, true), Ok(()));
    let profiling = ParsedQuote::parse(&synthetic_tdx_quote(0, TD_ATTR_SEPT_VE_DISABLE | 0x10))
        .expect("synthetic");
    assert!(matches!(
        check_debug(&profiling, false),
        Err(AttestError::DebugTd { .. })
    ));
}

// ------------------------------------------------------------ real DCAP vectors

#[test]
fn real_quote_bound_to_another_key_is_a_report_data_mismatch_and_is_cached() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    let at = system_time(time_inside(&collateral));
    let policy = tdx_policy(PolicyConfig::default(), Some(collateral));
    for _ in 0..2 {
        let err = policy.verify(&evidence(&KEY, Some(&raw)), at).unwrap_err();
        assert_eq!(err, AttestError::ReportDataMismatch);
    }
    let stats = policy.verification.cache.as_ref().expect("cache").stats();
    assert_eq!(
        (stats.misses, stats.hits),
        (1, 1),
        "DCAP ran once, then the cache answered"
    );
}

#[test]
fn real_quote_with_tampered_byte_is_rejected_by_the_policy() {
    let Some(dir) = vectors() else { return };
    let mut raw = read(&dir, "dcap-qvl/tdx_quote");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    let at = system_time(time_inside(&collateral));
    raw[600] ^= 0x80; // inside REPORTDATA
    let err = tdx_policy(PolicyConfig::default(), Some(collateral))
        .verify(&evidence(&KEY, Some(&raw)), at)
        .unwrap_err();
    assert!(matches!(err, AttestError::SignatureInvalid { .. }), "{err}");
}

#[test]
fn sgx_quote_under_tdx_policy_is_rejected() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/sgx_quote");
    let err = tdx_policy(PolicyConfig::default(), None)
        .verify(&evidence(&KEY, Some(&raw)), now())
        .unwrap_err();
    assert_eq!(err, AttestError::SgxQuoteRejected);
}

#[test]
fn outdated_platform_is_rejected_by_the_policy() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote_outdated");
    let collateral = collateral(&dir, "dcap-qvl/tdx_quote_outdated_collateral.json");
    let at = system_time(time_inside(&collateral));
    let err = tdx_policy(PolicyConfig::default(), Some(collateral))
        .verify(&evidence(&KEY, Some(&raw)), at)
        .unwrap_err();
    assert!(matches!(err, AttestError::TcbNotUpToDate { .. }), "{err}");
}

#[test]
fn real_measurements_checked_against_allowlists() {
    let Some(dir) = vectors() else { return };
    let q = ParsedQuote::parse(&read(&dir, "cocoon-test-quote.dat")).expect("test quote");
    let m = bound(q.tdx_measurements().expect("td"));
    let hash = tdx_image_hash(&m);
    assert_eq!(
        hex::encode(hash),
        "04b3afd931d28680af91a15b09d672c40ad6b141f7f9089a8d67d595220f7436"
    );
    let c = PolicyConfig {
        allowed_mrtd: vec![m.mr_td],
        allowed_image_hashes: vec![hash],
        ..PolicyConfig::default()
    };
    assert_eq!(
        check_tdx_identity(&c, &KEY, &m, Some(&INTEL_ROOT_KEY_ID)),
        Ok(hash)
    );
}
