use clap::Parser;

use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    ports: PortArgs,
}

fn args(extra: &[&str]) -> PortArgs {
    Cli::try_parse_from(std::iter::once("node").chain(extra.iter().copied()))
        .expect("parses")
        .ports
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cocoon-node-ports-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn by_default_every_port_is_on_loopback() {
    let dir = scratch();
    let config = dir.join("worker.json");
    let plan = args(&[])
        .plan(12000, STATS_ON_HTTP_PORT, &config, "")
        .expect("plan");
    assert_eq!(plan.stats, Some("127.0.0.1:12000".parse().expect("addr")));
    let (admin, token) = plan.admin.expect("admin on");
    assert_eq!(admin, "127.0.0.1:12010".parse().expect("addr"));
    // The token was generated into the file next to the config.
    let stored = std::fs::read_to_string(dir.join("worker.admin-token")).expect("token file");
    assert_eq!(stored.trim(), token.reveal());
    assert!(plan.stats_token.is_none(), "stats stay open on loopback");
    assert_eq!(plan.limits, HttpLimits::default());

    let client = args(&[])
        .plan(10000, CLIENT_PORTS, &config, "")
        .expect("plan");
    assert_eq!(client.stats, Some("127.0.0.1:10020".parse().expect("addr")));
    assert_eq!(
        client.admin.expect("admin").0,
        "127.0.0.1:10010".parse().expect("addr")
    );
    // A proxy from a reference config binds no port its router holds (11001/11002).
    let proxy = args(&[
        "--admin-token-file",
        dir.join("p.token").to_str().expect("utf-8"),
    ])
    .plan(11000, STATS_ON_HTTP_PORT, &config, "")
    .expect("plan");
    assert_eq!(
        proxy.admin.expect("admin").0,
        "127.0.0.1:11010".parse().expect("addr")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_config_access_hash_is_the_credential_and_guards_the_stats() {
    let dir = scratch();
    let config = dir.join("proxy.json");
    let plan = args(&["--admin-listen", "127.0.0.1:4001"])
        .plan(11000, STATS_ON_HTTP_PORT, &config, "let-me-in")
        .expect("plan");
    let (addr, token) = plan.admin.expect("admin");
    assert_eq!(addr.port(), 4001);
    assert!(token.matches("let-me-in"));
    assert!(plan
        .stats_token
        .expect("stats guarded")
        .matches("let-me-in"));
    assert!(
        !dir.join("proxy.admin-token").exists(),
        "no token file when the config sets the hash"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn flags_open_move_or_close_the_ports() {
    let dir = scratch();
    let config = dir.join("worker.json");
    let token_file = dir.join("elsewhere.token");
    let plan = args(&[
        "--stats-listen",
        "0.0.0.0",
        "--admin-listen",
        "off",
        "--admin-token-file",
        token_file.to_str().expect("utf-8"),
    ])
    .plan(12000, STATS_ON_HTTP_PORT, &config, "")
    .expect("plan");
    assert_eq!(plan.stats, Some("0.0.0.0:12000".parse().expect("addr")));
    assert!(plan.admin.is_none());
    assert!(!token_file.exists(), "no token without an admin port");

    // http_port 0: nothing by default, and a bare host has no port to go with.
    let none = args(&[])
        .plan(0, STATS_ON_HTTP_PORT, &config, "")
        .expect("plan");
    assert!(none.stats.is_none() && none.admin.is_none());
    assert!(args(&["--stats-listen", "127.0.0.1"])
        .plan(0, STATS_ON_HTTP_PORT, &config, "")
        .is_err());
    let v6 = args(&["--admin-listen", "[::1]:4002", "--stats-listen", "::1"])
        .plan(12000, STATS_ON_HTTP_PORT, &config, "hash")
        .expect("plan");
    assert_eq!(
        v6.admin.expect("admin").0,
        "[::1]:4002".parse().expect("addr")
    );
    assert_eq!(v6.stats, Some("[::1]:12000".parse().expect("addr")));
    assert!(args(&["--stats-listen", "not an address"])
        .plan(12000, STATS_ON_HTTP_PORT, &config, "")
        .is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn limits_are_validated() {
    let limits = args(&[
        "--http-header-timeout",
        "1.5",
        "--http-body-timeout",
        "2",
        "--http-max-connections",
        "8",
    ])
    .limits
    .limits()
    .expect("valid");
    assert_eq!(limits.header_timeout, Duration::from_millis(1500));
    assert_eq!(limits.body_timeout, Duration::from_secs(2));
    assert_eq!(limits.max_connections, 8);
    assert!(args(&["--http-header-timeout", "0"])
        .limits
        .limits()
        .is_err());
    assert!(args(&["--http-max-connections", "0"])
        .limits
        .limits()
        .is_err());
}

#[cfg(unix)]
#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() {
    raise_open_files_limit();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit on our own process with a valid, owned struct.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    assert_eq!(limit.rlim_cur, limit.rlim_max);
}
