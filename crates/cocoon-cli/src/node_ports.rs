//! The flags of a node's stats and admin ports and of the limits of its HTTP servers
//! ([`PortArgs`], flattened into every node command), and where they put the ports by default:
//! loopback, the stats port on the config's `http_port` (the client's on `http_port + 20`, its
//! `http_port` being the OpenAI API) and the admin port on `http_port + 10`. The offsets keep
//! clear of the reference's standard layout (client 10000, proxy stats 11000 with its router's
//! RPC ports 11001/11002, worker 12000, key manager 13000/13001), so a node started from a
//! reference config next to a reference router binds no port the router holds.
//!
//! The admin credential is the config's `http_access_hash` when it sets one (then the stats
//! pages need it too, as the reference's); else a token kept in `--admin-token-file` (default:
//! next to the config, `<config name>.admin-token`), created with mode 0600 on first start.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use cocoon_node::common::admin::{load_or_create, AdminPort, AdminToken};
use cocoon_node::common::ports::NodePorts;
use cocoon_node::http_server::HttpLimits;
use tokio::net::TcpListener;

/// Flags of the stats and admin ports.
#[derive(clap::Args, Debug, Clone)]
pub struct PortArgs {
    /// Read-only stats port (`/stats`, `/jsonstats`, `/metrics`): HOST:PORT, a HOST alone (with
    /// the default port), or `off` [default: 127.0.0.1, port `http_port` (client: `http_port + 20`)].
    #[arg(long, value_name = "HOST:PORT|HOST|off")]
    pub stats_listen: Option<String>,
    /// Admin port (the `/request/*` controls: POST only, credential required): HOST:PORT, a HOST
    /// alone (with the default port), or `off` [default: 127.0.0.1, port `http_port + 10`].
    #[arg(long, value_name = "HOST:PORT|HOST|off")]
    pub admin_listen: Option<String>,
    /// File holding the admin token when the config sets no `http_access_hash`; created
    /// (mode 0600) with a random token if missing [default: next to the config,
    /// `<config name>.admin-token`].
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    #[command(flatten)]
    pub limits: HttpLimitArgs,
}

/// Flags of the limits every HTTP server of a node applies (see `cocoon_node::http_server`).
#[derive(clap::Args, Debug, Clone)]
pub struct HttpLimitArgs {
    /// Seconds a connection may take to send a request's headers, counted from when it is
    /// accepted or its previous answer ended (so it also closes idle kept-alive connections).
    #[arg(long, default_value_t = HttpLimits::HEADER_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
    pub http_header_timeout: f64,
    /// Seconds a request body may take to arrive after its headers.
    #[arg(long, default_value_t = HttpLimits::BODY_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
    pub http_body_timeout: f64,
    /// Connections each HTTP listener serves at once; more are answered 503 and closed.
    #[arg(long, default_value_t = HttpLimits::MAX_CONNECTIONS, value_name = "N")]
    pub http_max_connections: usize,
}

impl HttpLimitArgs {
    /// These flags as arguments for a node command (`cocoon up` hands them to every node).
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--http-header-timeout".into(),
            self.http_header_timeout.to_string(),
            "--http-body-timeout".into(),
            self.http_body_timeout.to_string(),
            "--http-max-connections".into(),
            self.http_max_connections.to_string(),
        ]
    }

    pub fn limits(&self) -> anyhow::Result<HttpLimits> {
        let seconds = |v: f64, what: &str| {
            anyhow::ensure!(
                v.is_finite() && (0.05..=3600.0).contains(&v),
                "{what} must be between 0.05 and 3600 seconds"
            );
            Ok(Duration::from_secs_f64(v))
        };
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.http_max_connections),
            "--http-max-connections must be between 1 and 1000000"
        );
        Ok(HttpLimits {
            header_timeout: seconds(self.http_header_timeout, "--http-header-timeout")?,
            body_timeout: seconds(self.http_body_timeout, "--http-body-timeout")?,
            max_connections: self.http_max_connections,
        })
    }
}

/// Default ports of a role, as offsets from its config's `http_port`.
#[derive(Debug, Clone, Copy)]
pub struct PortDefaults {
    pub stats_offset: u16,
    pub admin_offset: u16,
}

/// Proxy and worker: stats on `http_port`, admin on `http_port + 10`.
pub const STATS_ON_HTTP_PORT: PortDefaults = PortDefaults {
    stats_offset: 0,
    admin_offset: 10,
};
/// Client (its `http_port` is the OpenAI API): admin on `+ 10`, stats on `+ 20`.
pub const CLIENT_PORTS: PortDefaults = PortDefaults {
    stats_offset: 20,
    admin_offset: 10,
};

/// Where the ports go and with which credentials, before binding.
#[derive(Debug)]
pub struct PortPlan {
    pub stats: Option<SocketAddr>,
    pub stats_token: Option<AdminToken>,
    pub admin: Option<(SocketAddr, AdminToken)>,
    /// Where the admin token comes from, for the start line.
    pub token_source: String,
    pub limits: HttpLimits,
}

impl PortArgs {
    /// The plan for a node whose config says `http_port` and `http_access_hash`. With
    /// `http_port` 0 the ports are off unless a flag names an address.
    pub fn plan(
        &self,
        http_port: u16,
        defaults: PortDefaults,
        config: &Path,
        http_access_hash: &str,
    ) -> anyhow::Result<PortPlan> {
        let limits = self.limits.limits()?;
        let default_port = |offset: u16| {
            (http_port > 0)
                .then(|| http_port.checked_add(offset))
                .flatten()
        };
        let stats = listen_addr(
            self.stats_listen.as_deref(),
            default_port(defaults.stats_offset),
            "--stats-listen",
        )?;
        let admin = listen_addr(
            self.admin_listen.as_deref(),
            default_port(defaults.admin_offset),
            "--admin-listen",
        )?;
        let stats_token = AdminToken::new(http_access_hash);
        let (admin, token_source) = match admin {
            None => (None, "off".to_string()),
            Some(addr) => match &stats_token {
                Some(token) => (Some((addr, token.clone())), "http_access_hash".into()),
                None => {
                    let file = self
                        .admin_token_file
                        .clone()
                        .unwrap_or_else(|| config.with_extension("admin-token"));
                    let token = load_or_create(&file).with_context(|| {
                        format!(
                            "the admin token (set http_access_hash in the config, pass \
                             --admin-token-file, or --admin-listen off): {}",
                            file.display()
                        )
                    })?;
                    (Some((addr, token)), format!("file {}", file.display()))
                }
            },
        };
        Ok(PortPlan {
            stats,
            stats_token,
            admin,
            token_source,
            limits,
        })
    }
}

/// The address `flag` names: `off`, `HOST:PORT`, or a `HOST` with `default_port`; without
/// the flag, loopback with `default_port` (off when there is none).
fn listen_addr(
    flag: Option<&str>,
    default_port: Option<u16>,
    name: &str,
) -> anyhow::Result<Option<SocketAddr>> {
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let Some(value) = flag.map(str::trim) else {
        return Ok(default_port.map(|p| SocketAddr::new(loopback, p)));
    };
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    if let Ok(ip) = value.trim_matches(['[', ']']).parse::<IpAddr>() {
        let port = default_port.with_context(|| {
            format!("{name} {value}: no default port (http_port is 0): give HOST:PORT")
        })?;
        return Ok(Some(SocketAddr::new(ip, port)));
    }
    let mut resolved = value
        .to_socket_addrs()
        .with_context(|| format!("{name} {value}: expected HOST:PORT, HOST or off"))?;
    resolved
        .next()
        .map(Some)
        .with_context(|| format!("{name} {value}: the host resolves to no address"))
}

impl PortPlan {
    /// Binds the ports. Logs a warning for each one open beyond loopback.
    pub async fn bind(self) -> anyhow::Result<NodePorts> {
        let bind = |addr: SocketAddr, what: &'static str| async move {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "the {what} port listens beyond loopback");
            }
            TcpListener::bind(addr).await.with_context(|| {
                format!("binding the {what} port {addr} (choose another with --{what}-listen, or --{what}-listen off)")
            })
        };
        let stats = match self.stats {
            Some(addr) => Some(bind(addr, "stats").await?),
            None => None,
        };
        let admin = match self.admin {
            Some((addr, token)) => Some(AdminPort {
                listener: bind(addr, "admin").await?,
                token,
            }),
            None => None,
        };
        Ok(NodePorts {
            stats,
            stats_token: self.stats_token,
            admin,
            limits: self.limits,
        })
    }
}

/// `stats http://A, admin http://B (token: …)` of a node's start line.
pub fn describe(ports: &NodePorts, token_source: &str) -> String {
    let show = |l: Option<&TcpListener>| match l.map(TcpListener::local_addr) {
        Some(Ok(addr)) => format!("http://{addr}"),
        Some(Err(_)) => "?".to_string(),
        None => "off".to_string(),
    };
    let admin = show(ports.admin.as_ref().map(|a| &a.listener));
    let admin = if ports.admin.is_some() {
        format!("{admin} (POST, token: {token_source})")
    } else {
        admin
    };
    format!("stats {}, admin {admin}", show(ports.stats.as_ref()))
}

/// Raises this process's soft limit of open files to its hard limit, so that a listener
/// reaches its connection cap (and sheds load with a 503) before `accept` runs out of file
/// descriptors: a common soft limit is 1024, the default cap of one listener. Logs what it
/// could not do.
#[cfg(unix)]
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on our own process with a valid, owned struct.
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur >= limit.rlim_max {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0
    };
    if !raised {
        tracing::warn!(
            soft = limit.rlim_cur,
            "cannot raise the open-files limit; connections beyond it fail to be accepted"
        );
    }
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() {}

#[cfg(test)]
#[path = "node_ports_tests.rs"]
mod tests;
