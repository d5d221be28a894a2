//! Tests of the shared node flags: per-role defaults, the flags `cocoon up`
//! passes, the help text and the policy builder the flags make.

use clap::{CommandFactory, Parser};
use cocoon_node::common::policy::{CollateralLocation, PolicyError};
use cocoon_tee::policy::PolicyKind;

use crate::{Cli, Command};

fn parse(args: &[&str]) -> Command {
    let argv = std::iter::once("cocoon").chain(args.iter().copied());
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli.command,
        Err(e) => panic!("{args:?} does not parse: {e}"),
    }
}

/// A file under the temp dir, unique to this process and `name`, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn with(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "cocoon-cli-node-args-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn command_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn roles_keep_their_defaults() {
    let Command::Client(client) = parse(&["client", "-c", "client.json"]) else {
        panic!("not the client command");
    };
    assert_eq!(client.node.config.to_str(), Some("client.json"));
    assert_eq!(client.node.tee, "none");
    assert_eq!(client.proxy_policy, "fake");
    assert_eq!(client.listen, "127.0.0.1");
    assert_eq!(
        client.node.collateral,
        "https://api.trustedservices.intel.com"
    );
    assert_eq!(client.node.policy_file, None);
    assert_eq!(client.node.disable_ton, None);

    let Command::Worker(worker) = parse(&["worker", "--config", "w.json"]) else {
        panic!("not the worker command");
    };
    assert_eq!(
        (worker.node.tee.as_str(), worker.proxy_policy),
        ("fake", None)
    );

    let Command::Proxy(proxy) = parse(&["proxy", "--config", "p.json"]) else {
        panic!("not the proxy command");
    };
    assert_eq!(proxy.node.tee, "fake");
    assert_eq!(
        (
            proxy.worker_policy,
            proxy.client_policy.as_str(),
            proxy.pow_difficulty
        ),
        (None, "any", 20)
    );
    assert_eq!(proxy.host, "127.0.0.1");
}

#[test]
fn flags_passed_by_cocoon_up_parse() {
    let Command::Proxy(proxy) = parse(&[
        "proxy",
        "--config",
        "p.json",
        "--disable-ton",
        "root.json",
        "--tee",
        "fake",
        "--worker-policy",
        "fake",
        "--client-policy",
        "any",
        "--pow-difficulty",
        "4",
    ]) else {
        panic!("not the proxy command");
    };
    assert_eq!(
        proxy.node.disable_ton.as_deref().and_then(|p| p.to_str()),
        Some("root.json")
    );
    assert_eq!(proxy.worker_policy.as_deref(), Some("fake"));
    assert_eq!(proxy.pow_difficulty, 4);

    let Command::Worker(worker) = parse(&[
        "worker",
        "--config",
        "w.json",
        "--disable-ton",
        "root.json",
        "--tee",
        "fake",
        "--proxy-policy",
        "fake",
    ]) else {
        panic!("not the worker command");
    };
    assert_eq!(worker.proxy_policy.as_deref(), Some("fake"));

    let Command::Client(client) = parse(&[
        "client",
        "-c",
        "c.json",
        "-C",
        "root.json",
        "--tee",
        "none",
        "--proxy-policy",
        "tdx",
        "--collateral",
        "coll.json",
        "--policy-file",
        "router.json",
    ]) else {
        panic!("not the client command");
    };
    assert_eq!(client.proxy_policy, "tdx");
    assert_eq!(client.node.collateral, "coll.json");
    assert_eq!(
        client.node.policy_file.as_deref().and_then(|p| p.to_str()),
        Some("router.json")
    );
}

#[test]
fn help_names_the_role_config_and_the_blocking_fetch() {
    let mut cli = Cli::command();
    for (role, runner) in [
        ("client", "clientRunner.config"),
        ("proxy", "proxyRunner.config"),
        ("worker", "workerRunner.config"),
    ] {
        let help = cli
            .find_subcommand_mut(role)
            .expect("subcommand")
            .render_long_help()
            .to_string();
        assert!(help.contains(runner), "{role}: {help}");
        assert!(help.contains("--policy-file <FILE>"), "{role}: {help}");
        assert!(help.contains("--collateral <URL|FILE>"), "{role}: {help}");
        assert!(
            help.contains("blocks that handshake's thread"),
            "{role}: {help}"
        );
    }
}

#[test]
fn policy_flags_make_the_policies() {
    let collateral = TempFile::with(
        "collateral.json",
        r#"{"pck_crl_issuer_chain":"","root_ca_crl":"","pck_crl":"","tcb_info_issuer_chain":"",
        "tcb_info":"","tcb_info_signature":"","qe_identity_issuer_chain":"","qe_identity":"",
        "qe_identity_signature":""}"#,
    );
    let router = TempFile::with(
        "router.json",
        r#"{"policies":[{"name":"prod","type":"tee"},{"name":"dev","type":"fake_tee"}]}"#,
    );
    let Command::Proxy(proxy) = parse(&[
        "proxy",
        "-c",
        "p.json",
        "--collateral",
        collateral.arg(),
        "--policy-file",
        router.arg(),
    ]) else {
        panic!("not the proxy command");
    };
    let policies = proxy.node.policies().expect("policies");
    assert_eq!(
        policies.collateral_location(),
        &CollateralLocation::File(collateral.0.clone())
    );
    let kinds: Vec<_> = ["prod", "dev", "tdx", "any"]
        .iter()
        .map(|name| policies.build(name).map(|p| p.kind).ok())
        .collect();
    assert_eq!(
        kinds,
        [
            Some(PolicyKind::Tdx),
            Some(PolicyKind::Fake),
            Some(PolicyKind::Tdx),
            Some(PolicyKind::Any)
        ]
    );
    assert!(matches!(
        policies.build("staging"),
        Err(PolicyError::Unknown { .. })
    ));
}

#[test]
fn bad_policy_flags_are_clear_errors() {
    let Command::Worker(worker) = parse(&[
        "worker",
        "-c",
        "w.json",
        "--collateral",
        "/nonexistent/cocoon-collateral.json",
    ]) else {
        panic!("not the worker command");
    };
    let err = format!(
        "{:#}",
        worker.node.policies().expect_err("missing collateral")
    );
    assert!(err.contains("/nonexistent/cocoon-collateral.json"), "{err}");

    let Command::Worker(worker) = parse(&[
        "worker",
        "-c",
        "w.json",
        "--policy-file",
        "/nonexistent/cocoon-router.json",
    ]) else {
        panic!("not the worker command");
    };
    let err = format!(
        "{:#}",
        worker.node.policies().expect_err("missing policy file")
    );
    assert!(
        err.contains("policy file /nonexistent/cocoon-router.json"),
        "{err}"
    );
}

#[test]
fn ton_flags_default_and_parse() {
    let Command::Proxy(proxy) = parse(&["proxy", "-c", "p.json"]) else {
        panic!("not the proxy command");
    };
    assert_eq!(proxy.node.wallet_code, None);
    assert_eq!(proxy.node.ton_sync_timeout, 60.0);
    assert_eq!(proxy.node.ton_refresh_interval, 5.0);
    let Command::Worker(worker) = parse(&[
        "worker",
        "-c",
        "w.json",
        "--wallet-code",
        "wallet.boc",
        "--ton-sync-timeout",
        "5",
        "--ton-refresh-interval",
        "0.5",
    ]) else {
        panic!("not the worker command");
    };
    assert_eq!(
        worker.node.wallet_code.as_deref(),
        Some(std::path::Path::new("wallet.boc"))
    );
    assert_eq!(worker.node.ton_sync_timeout, 5.0);
    assert_eq!(worker.node.ton_refresh_interval, 0.5);
}

/// A client config without TON fields, or with them but no wallet code / a missing global
/// config: each start fails with an error naming what to fix (nothing is contacted).
#[test]
fn ton_start_errors_name_what_is_missing() {
    let base = r#""@type": "clientRunner.config", "is_test": true, "http_port": 1,
        "owner_address": "0:3333333333333333333333333333333333333333333333333333333333333333",
        "proxy_connections": 1, "node_wallet_key": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
        "check_proxy_hashes": false, "secret_string": """#;
    let start = |cfg: &TempFile, extra: &[&str]| {
        let mut args = vec!["client", "-c", cfg.arg()];
        args.extend_from_slice(extra);
        let Command::Client(client) = parse(&args) else {
            panic!("not the client command");
        };
        match client
            .node
            .prepare(cocoon_node::config::ClientConfig::from_file)
        {
            Ok(_) => panic!("started without a usable TON backend"),
            Err(e) => format!("{e:#}"),
        }
    };
    let no_ton = TempFile::with("no-ton.json", &format!("{{{base}}}"));
    let err = start(&no_ton, &[]);
    assert!(
        err.contains("--disable-ton") && err.contains("ton_config_filename"),
        "{err}"
    );

    let ton = TempFile::with(
        "ton.json",
        &format!(
            "{{{base}, \"ton_config_filename\": \"/nonexistent/global.json\", \
             \"root_contract_address\": \"0:{}\"}}",
            "ab".repeat(32)
        ),
    );
    let err = start(&ton, &[]);
    assert!(err.contains("--wallet-code"), "{err}");
    let err = start(&ton, &["--devnet-ledger", "/tmp/x.json"]);
    assert!(err.contains("--disable-ton"), "{err}");
    let code_boc =
        cocoon_ledger::boc::serialize(tonlib_core::cell::Cell::default()).expect("empty cell BoC");
    let code = TempFile::with("code.hex", &hex::encode(code_boc));
    let err = start(&ton, &["--wallet-code", code.arg()]);
    assert!(err.contains("does not exist"), "{err}");
}
