//! Reading the reference router's JSON policies and CLI policy arguments.

use cocoon_tee::dcap::INTEL_ROOT_KEY_ID;
use cocoon_tee::fake::FakeQuoteProvider;
use cocoon_tee::policy::expected_report_data;
use cocoon_tee::policy::PolicyKind;
use cocoon_tee::router_config::{
    parse_policy_arg, parse_root_key_ids, parse_router_json, PolicySet, PolicySpec,
};
use cocoon_tee::{AttestError, Evidence, QuoteProvider, TeeKind};

const H32: &str = "04b3afd931d28680af91a15b09d672c40ad6b141f7f9089a8d67d595220f7436";
const H48: &str = "7357a10d2e2724dffe68813e3cc4cfcde6814d749f2fb62e3953e54f6e0b50a219786afe2cd478f684b52c61837e1114";
const ROOT: &str = "46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993";

fn field_of(err: AttestError) -> String {
    match err {
        AttestError::InvalidConfig { field, .. } => field,
        other => panic!("expected InvalidConfig, got {other}"),
    }
}

#[test]
fn april_format_with_ratls_policy() {
    let json = format!(
        r#"{{ "cert_base_name": "", "threads": 0,
             "policies": [ {{ "name": "strict", "type": "tee", "description": "prod",
                "ratls_policy": {{
                  "tdx_config": {{ "allowed_image_hashes": ["{H32}"], "allowed_image_hash": "{H32}",
                                   "allowed_collateral_root_hashes": "{ROOT}",
                                   "allowed_mrtd": ["{H48}"],
                                   "allowed_rtmr": [["{H48}", "{H48}", "{H48}", "{H48}"]] }},
                  "sev_config": {{ "allowed_measurement": ["{H48}"], "allowed_image_id": "{H32}" }} }} }} ],
             "ports": [ {{ "port": 8116, "type": "socks5", "policy_name": "strict" }} ] }}"#
    );
    let specs = parse_router_json(&json).expect("parses");
    assert_eq!(specs.len(), 1);
    let s = &specs[0];
    assert_eq!(
        (s.name.as_str(), s.kind, s.description.as_str()),
        ("strict", PolicyKind::Tdx, "prod")
    );
    let hash: [u8; 32] = hex::decode(H32).expect("hex").try_into().expect("32");
    let m: [u8; 48] = hex::decode(H48).expect("hex").try_into().expect("48");
    assert_eq!(
        s.config.allowed_image_hashes,
        vec![hash, hash],
        "array plus legacy singular"
    );
    assert_eq!(
        s.config.allowed_root_key_ids,
        vec![INTEL_ROOT_KEY_ID],
        "string form"
    );
    assert_eq!(s.config.allowed_mrtd, vec![m]);
    assert_eq!(s.config.allowed_rtmr, vec![[m; 4]]);
    assert_eq!(s.config.sev_allowed_measurements, vec![m]);
    assert_eq!(s.config.sev_allowed_image_hashes, vec![hash]);
    assert!(!s.config.allow_debug && !s.config.require_evidence);
}

#[test]
fn december_format_and_names() {
    let json = format!(
        r#"{{ "policies": [
             {{ "name": "old", "type": "tdx", "tdx_config": {{ "allowed_image_hashes": "{H32}", "allow_debug": true }} }},
             {{ "name": "dev", "type": "fake_tdx" }},
             {{ "name": "dev2", "type": "fake_tee", "ratls_policy": {{ "tdx_config": {{ "require_attestation": true }} }} }} ] }}"#
    );
    let specs = parse_router_json(&json).expect("parses");
    assert_eq!(
        specs.iter().map(|s| s.kind).collect::<Vec<_>>(),
        [PolicyKind::Tdx, PolicyKind::Fake, PolicyKind::Fake]
    );
    assert_eq!(specs[0].config.allowed_image_hashes.len(), 1);
    assert!(specs[0].config.allow_debug);
    assert!(specs[2].config.require_evidence);
    assert!(parse_router_json("{}").expect("no policies").is_empty());
}

#[test]
fn errors_name_the_bad_field() {
    let cases = [
        (r#"{"policies": [{"name": "p", "type": "tee", "ratls_policy": {"tdx_config": {"allowed_mrtd": [5]}}}]}"#.to_owned(),
            "policies[0].ratls_policy.tdx_config.allowed_mrtd[0]"),
        (format!(r#"{{"policies": [{{"name": "p", "type": "tee", "tdx_config": {{"allowed_rtmr": [["{H48}"]]}}}}]}}"#),
            "policies[0].tdx_config.allowed_rtmr[0]"),
        (r#"{"policies": [{"name": "p", "type": "tee", "tdx_config": {"allowed_image_hashes": ["abcd"]}}]}"#.to_owned(),
            "policies[0].tdx_config.allowed_image_hashes[0]"),
        (r#"{"policies": [{}, {"name": "q", "type": "strict"}]}"#.to_owned(), "policies[0].name"),
        (r#"{"policies": [{"name": "q", "type": "strict"}]}"#.to_owned(), "policies[0].type"),
        (r#"{"policies": [{"name": "q", "type": "tee", "tdx_config": {"allowed_mrtds": []}}]}"#.to_owned(),
            "policies[0].tdx_config.allowed_mrtds"),
        (r#"{"policies": [{"name": "q", "type": "tee", "tdx_config": {"allowed_image_hashes": 7}}]}"#.to_owned(),
            "policies[0].tdx_config.allowed_image_hashes"),
        (r#"{"policies": {}}"#.to_owned(), "policies"),
        ("[1]".to_owned(), "config"),
        ("{".to_owned(), "config"),
    ];
    for (json, field) in cases {
        assert_eq!(
            field_of(parse_router_json(&json).unwrap_err()),
            field,
            "{json}"
        );
    }
}

#[test]
fn policy_set_resolves_definitions_then_builtins() {
    let json = format!(
        r#"{{"policies": [{{"name": "tee", "type": "tee", "tdx_config": {{"allowed_image_hashes": "{H32}"}}}}]}}"#
    );
    let mut set = PolicySet::from_router_json(&json).expect("parses");
    // A JSON policy named like a built-in replaces it (the reference silently does the opposite).
    assert_eq!(
        set.get("tee").map(|s| s.config.allowed_image_hashes.len()),
        Some(1)
    );
    assert_eq!(
        set.get("tdx")
            .map(|s| (s.kind, s.config.allowed_image_hashes.len())),
        Some((PolicyKind::Tdx, 0))
    );
    assert_eq!(set.get("fake_tee").map(|s| s.kind), Some(PolicyKind::Fake));
    assert_eq!(set.get("any").map(|s| s.kind), Some(PolicyKind::Any));
    assert!(set.get("strict").is_none());
    set.define(parse_policy_arg("strict:tee").expect("arg"));
    assert_eq!(set.defined().len(), 2);
    assert_eq!(set.get("strict").map(|s| s.kind), Some(PolicyKind::Tdx));
}

#[test]
fn cli_policy_and_root_key_arguments() {
    let spec = parse_policy_arg(&format!("w:tee:{H32},tdx@{H32},sev@{H32}")).expect("parses");
    assert_eq!((spec.name.as_str(), spec.kind), ("w", PolicyKind::Tdx));
    assert_eq!(
        (
            spec.config.allowed_image_hashes.len(),
            spec.config.sev_allowed_image_hashes.len()
        ),
        (2, 1)
    );
    assert_eq!(
        parse_policy_arg("a:any").map(|s| s.kind),
        Ok(PolicyKind::Any)
    );
    for bad in ["nocolon", ":tee", "x:bogus", "x:tee:zz"] {
        assert!(
            matches!(
                parse_policy_arg(bad),
                Err(AttestError::InvalidConfig { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(parse_root_key_ids(ROOT), Ok(vec![INTEL_ROOT_KEY_ID]));
    assert_eq!(
        parse_root_key_ids(&format!("{ROOT},{ROOT}")).map(|v| v.len()),
        Ok(2)
    );
    assert!(parse_root_key_ids(H32).is_err());
}

#[test]
fn specs_build_working_policies() {
    let key = [9u8; 32];
    let quote = FakeQuoteProvider
        .quote(&expected_report_data(&key))
        .expect("fake quote");
    let now = std::time::SystemTime::now();
    let fake = PolicySpec::builtin("fake_tee", PolicyKind::Fake)
        .build(None, &[])
        .expect("fake builds");
    let with_quote = Evidence {
        public_key: &key,
        tdx_quote: Some(&quote),
        sev_report: None,
        sev_report_data: None,
        sev_vcek: None,
    };
    assert_eq!(
        fake.verify(&with_quote, now).map(|id| id.tee),
        Ok(TeeKind::Fake)
    );
    let any = PolicySpec::builtin("any", PolicyKind::Any)
        .build(None, &[])
        .expect("any builds");
    assert_eq!(
        any.verify(&with_quote, now).map(|id| id.tee),
        Ok(TeeKind::None)
    );
    let err = PolicySpec::builtin("tee", PolicyKind::Tdx)
        .build(None, &[])
        .unwrap_err();
    assert_eq!(field_of(err), "policy tee");
}
