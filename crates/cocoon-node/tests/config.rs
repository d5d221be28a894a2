//! Config loading: our fixtures (modelled on the reference's spec files), the TL-JSON value
//! rules, and errors that name the field and the file.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use cocoon_node::config::{
    ClientConfig, ConfigError, KeyManagerConfig, LocalRootConfig, ProxyConfig, WorkerConfig,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const WALLET_KEY: &str = "qUv4Nx6Nx1K9fMoRDLBjQYu8NcTNLiii+wHH2z0/soI=";

fn b64_32(s: &str) -> [u8; 32] {
    use base64::Engine as _;
    let v = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    v.try_into().unwrap()
}

#[test]
fn client_fixture_loads_with_reference_extras_ignored() {
    let c = ClientConfig::from_file(fixture("client-config.json")).unwrap();
    assert!(c.is_test, "\"1\" is true");
    assert!(!c.is_testnet);
    assert_eq!(c.http_port, 10000, "numeric string accepted");
    assert_eq!(c.proxy_connections, 1);
    assert_eq!(
        c.connect_to_proxy_via,
        Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8116))
    );
    assert_eq!(c.node_wallet_key.0, b64_32(WALLET_KEY));
    assert_eq!(c.secret_string.0, "local test secret");
    assert_eq!(
        c.ignored_keys,
        vec!["rpc_port", "max_coefficient", "max_tokens"]
    );
    // is_test and no check_proxy_hashes: hashes not checked.
    assert!(!c.check_image_hashes());
    // Secrets do not leak through Debug.
    let debug = format!("{c:?}");
    assert!(!debug.contains("local test secret"));
    assert!(debug.contains("<redacted>"));
}

#[test]
fn proxy_fixture_loads() {
    let p = ProxyConfig::from_file(fixture("proxy-config.json")).unwrap();
    assert_eq!(
        (p.http_port, p.workers_rpc_port, p.client_rpc_port),
        (11000, 11101, 11102)
    );
    assert_eq!(p.db_path, "/tmp/cocoon-local/proxy-db");
    assert_eq!(
        p.image_hash.0,
        b64_32("gOfZ/0ehozoLYaSNskYFHYRvAcMhHu/2Nj+O1yCq3lA=")
    );
    assert!(!p.machine_specific_private_key.is_zero());
    assert!(p.ignored_keys.is_empty());
    assert!(!p.check_image_hashes());
}

#[test]
fn worker_fixture_loads() {
    let w = WorkerConfig::from_file(fixture("worker-config.json")).unwrap();
    assert_eq!(w.model_base_name(), "Qwen/Qwen3-8B");
    assert_eq!(w.coefficient, 1000);
    assert_eq!(w.max_active_requests(), 60);
    assert_eq!(w.forward_requests_to, "127.0.0.1:8000");
    assert_eq!(w.machine_description_json, "{\"test\":true}");
    assert_eq!(w.ignored_keys, vec!["rpc_port"]);
    assert!(w.change_model_script.is_empty());
}

#[test]
fn key_manager_fixture_loads() {
    let k = KeyManagerConfig::from_file(fixture("key-manager-config.json")).unwrap();
    assert_eq!((k.http_port, k.rpc_port), (13000, 13101));
    assert!(k.check_hashes);
    assert!(!k.is_test && !k.add_default_key);
}

#[test]
fn fake_ton_root_fixture_loads() {
    let r = LocalRootConfig::from_file(fixture("fake-ton-config.json")).unwrap();
    assert_eq!(r.proxy_hashes.len(), 1);
    assert_eq!(r.worker_hashes.len(), 1);
    assert_eq!((r.price_per_token, r.worker_fee_per_token), (2, 1));
    assert_eq!((r.version, r.params_version, r.last_proxy_seqno), (3, 1, 1));
    let proxy = &r.registered_proxies[0];
    assert_eq!(proxy.seqno, 1);
    assert_eq!(
        proxy.address_for_workers,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 11001)
    );
    assert_eq!(
        proxy.address_for_clients,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 11002)
    );
    assert_eq!(r.registered_public_keys[0].key_type, 1);
    assert_eq!(r.registered_public_keys[0].expire_at, 2_000_000_000);
    assert_eq!(
        r.key_manager_address,
        Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 13001))
    );
    assert!(r.proxy_sc_code.is_empty());
    assert_eq!(
        r.ignored_keys,
        vec!["model_names", "registered_proxies[0].proxy_hash"]
    );
    // model_types are hashed up to '@' (sha256("Qwen/Qwen3-8B")).
    let hashes = r.accepted_model_hashes();
    assert_eq!(hashes.len(), 1);
    let expected: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"Qwen/Qwen3-8B").into();
    assert_eq!(hashes[0].0, expected);
}

#[test]
fn defaults_when_fields_absent_or_null() {
    let w = WorkerConfig::from_json_str(r#"{"coefficient": null}"#).unwrap();
    assert_eq!(w.coefficient, 0);
    assert_eq!(w.http_port, 0);
    assert!(w.node_wallet_key.is_zero());
    assert_eq!(w.max_active_requests(), 200, "≤ 0 means the default cap");
    assert_eq!(w.machine_description_json, "{}");
    assert_eq!(w.connect_to_proxy_via, None);
    let r = LocalRootConfig::from_json_str("{}").unwrap();
    assert!(r.registered_proxies.is_empty() && r.key_manager_address.is_none());
}

#[test]
fn tl_json_value_rules() {
    // Bool: true/false, numbers, numeric strings.
    for (text, expected) in [
        (r#"{"is_test": true}"#, true),
        (r#"{"is_test": 0}"#, false),
        (r#"{"is_test": 7}"#, true),
        (r#"{"is_test": "0"}"#, false),
        (r#"{"is_test": "-1"}"#, true),
    ] {
        assert_eq!(
            ClientConfig::from_json_str(text).unwrap().is_test,
            expected,
            "{text}"
        );
    }
    // int: numbers and decimal strings; no floats, no '+', no spaces, i32 range.
    assert_eq!(
        WorkerConfig::from_json_str(r#"{"coefficient": "-5"}"#)
            .unwrap()
            .coefficient,
        -5
    );
    for bad in [
        r#"{"coefficient": 1.5}"#,
        r#"{"coefficient": "+5"}"#,
        r#"{"coefficient": " 5"}"#,
        r#"{"coefficient": "2147483648"}"#,
        r#"{"coefficient": 2147483648}"#,
        r#"{"coefficient": ""}"#,
    ] {
        let err = WorkerConfig::from_json_str(bad).unwrap_err();
        assert_eq!(err.field(), Some("coefficient"), "{bad}: {err}");
    }
    // int256: base64 with padding, exactly 32 bytes, canonical.
    for bad in [
        "qUv4Nx6Nx1K9fMoRDLBjQYu8NcTNLiii+wHH2z0/soI", // no padding
        "qUv4Nx6Nx1K9fMoRDLBjQYu8NcTNLiii+wHH2z0/soJ=", // non-canonical trailing bits
        "AAAA",                                        // 3 bytes
        "qUv4Nx6Nx1K9fMoRDLBjQYu8NcTNLiii-wHH2z0_soI=", // URL alphabet
    ] {
        let text = format!(r#"{{"node_wallet_key": "{bad}"}}"#);
        let err = ClientConfig::from_json_str(&text).unwrap_err();
        assert_eq!(err.field(), Some("node_wallet_key"), "{bad}: {err}");
    }
}

#[test]
fn unknown_field_names_the_field_and_the_file() {
    let dir = std::env::temp_dir().join(format!("cocoon-node-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("proxy.json");
    std::fs::write(&path, r#"{"http_port": 11000, "workers_rpc_prot": 11101}"#).unwrap();
    let err = ProxyConfig::from_file(&path).unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnknownField { field, .. } if field == "workers_rpc_prot"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("workers_rpc_prot"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    // A reference extra of another file is not accepted here.
    let err = ProxyConfig::from_json_str(r#"{"rpc_port": 1}"#).unwrap_err();
    assert_eq!(err.field(), Some("rpc_port"));
    // Nested objects report their path.
    let err = LocalRootConfig::from_json_str(
        r#"{"registered_proxies": [{"seqno": 1, "address": "1.2.3.4:5", "colour": "red"}]}"#,
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("registered_proxies[0].colour"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn wrong_type_names_the_field() {
    let cases: [(&str, &str); 6] = [
        (r#"{"http_port": true}"#, "http_port"),
        (r#"{"http_port": 70000}"#, "http_port"),
        (r#"{"owner_address": 5}"#, "owner_address"),
        (r#"{"is_test": "$IS_DEBUG"}"#, "is_test"),
        (
            r#"{"connect_to_proxy_via": "localhost:8116"}"#,
            "connect_to_proxy_via",
        ),
        (r#"{"@type": "proxyRunner.config"}"#, "@type"),
    ];
    for (text, field) in cases {
        let err = ClientConfig::from_json_str(text).unwrap_err();
        assert_eq!(err.field(), Some(field), "{text}: {err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let err = ClientConfig::from_json_str(r#"{"is_test": "$IS_DEBUG"}"#).unwrap_err();
    assert!(err.to_string().contains("template"), "{err}");

    let worker_cases: [(&str, &str); 3] = [
        (
            r#"{"forward_requests_to": "127.0.0.1:80000"}"#,
            "forward_requests_to",
        ),
        (
            r#"{"machine_description_json": "[1]"}"#,
            "machine_description_json",
        ),
        (r#"{"max_active_requests": [60]}"#, "max_active_requests"),
    ];
    for (text, field) in worker_cases {
        let err = WorkerConfig::from_json_str(text).unwrap_err();
        assert_eq!(err.field(), Some(field), "{text}: {err}");
    }
    let root_cases: [(&str, &str); 5] = [
        (r#"{"proxy_hashes": "abc"}"#, "proxy_hashes"),
        (r#"{"proxy_hashes": ["abc"]}"#, "proxy_hashes[0]"),
        (
            r#"{"registered_proxies": [{"address": "1.2.3.4"}]}"#,
            "registered_proxies[0].address",
        ),
        (r#"{"proxy_sc_code": "$PROXY_SC_CODE"}"#, "proxy_sc_code"),
        (
            r#"{"key_manager_address": "km:13001"}"#,
            "key_manager_address",
        ),
    ];
    for (text, field) in root_cases {
        let err = LocalRootConfig::from_json_str(text).unwrap_err();
        assert_eq!(err.field(), Some(field), "{text}: {err}");
    }
}

#[test]
fn not_json_or_not_object() {
    assert!(matches!(
        ClientConfig::from_json_str("{"),
        Err(ConfigError::Json { .. })
    ));
    assert!(matches!(
        ClientConfig::from_json_str("[]"),
        Err(ConfigError::NotAnObject { .. })
    ));
    assert!(matches!(
        ClientConfig::from_file(fixture("does-not-exist.json")),
        Err(ConfigError::Read { .. })
    ));
}

/// Without a ledger, contract addresses are derived in the root file's own context (its
/// codes, prices and params version, the §6.10 constants), as reference peers derive them
/// from the same file — not from devnet placeholder codes.
#[test]
fn fake_ton_root_gives_the_contract_context_of_its_codes() {
    let text = std::fs::read_to_string(fixture("fake-ton-config.json")).unwrap();
    let plain = LocalRootConfig::from_json_str(&text).unwrap();
    let ctx = plain.contract_context("").unwrap();
    assert_eq!(ctx.params.price_per_token, 2);
    assert_eq!(ctx.params.worker_fee_per_token, 1);
    assert_eq!(ctx.params.params_version, 1);
    assert_eq!(ctx.params.unique_id, LocalRootConfig::UNIQUE_ID);
    assert_eq!(ctx.params.struct_version, LocalRootConfig::STRUCT_VERSION);
    // An empty code is the empty cell (the reference's default).
    assert_eq!(ctx.codes.client.bit_len(), 0);
    assert!(ctx.codes.client.references().is_empty());

    // A file with a client code (a 32-bit cell, as a reference-style checksummed BoC).
    let mut b = tonlib_core::cell::CellBuilder::new();
    b.store_u32(32, 0xC0C0_0001).unwrap();
    let code = b.build().unwrap();
    let boc = tonlib_core::cell::BagOfCells::from_root(code.clone())
        .serialize(true)
        .unwrap();
    let with_code = text.replace(
        "\"client_sc_code\" : \"\"",
        &format!("\"client_sc_code\" : \"{}\"", hex::encode(&boc)),
    );
    let coded = LocalRootConfig::from_json_str(&with_code).unwrap();
    let coded_ctx = coded.contract_context("").unwrap();
    assert_eq!(coded_ctx.codes.client.cell_hash(), code.cell_hash());

    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let owner = cocoon_ledger::address::parse_address(&format!("0:{}", "11".repeat(32)))
        .unwrap()
        .address;
    let proxy_sc = cocoon_ledger::address::parse_address(&format!("0:{}", "22".repeat(32)))
        .unwrap()
        .address;
    let spec = || cocoon_ledger::address::ContractSpec::Client {
        owner: &owner,
        proxy_sc: &proxy_sc,
    };
    let a = ctx.derive(spec(), &key).unwrap();
    let b = coded_ctx.derive(spec(), &key).unwrap();
    assert_ne!(
        a, b,
        "the client code must enter the client contract address"
    );

    // Bad code and negative prices are config errors naming the field.
    let bad = text.replace(
        "\"client_sc_code\" : \"\"",
        "\"client_sc_code\" : \"b5ee9c72\"",
    );
    let err = LocalRootConfig::from_json_str(&bad)
        .unwrap()
        .contract_context("")
        .unwrap_err();
    assert!(err.to_string().contains("client_sc_code"), "{err}");
    let negative = text.replace("\"price_per_token\" : 2", "\"price_per_token\" : -2");
    if negative != text {
        let err = LocalRootConfig::from_json_str(&negative)
            .unwrap()
            .contract_context("")
            .unwrap_err();
        assert!(err.to_string().contains("price_per_token"), "{err}");
    }
}
