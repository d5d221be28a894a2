//! The real `cocoon proxy` under test, as a child process: its fake-TON root
//! config and proxy config, start-up, readiness, and its memory and CPU read
//! from `/proc`. Also the file-descriptor limit of this process (inherited
//! by the proxy).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use rand::RngCore;
use serde_json::json;

/// Root config version written into `root.json` (clients ask for at least this).
pub const CONFIG_VERSION: i32 = 3;

/// A running proxy and its ports.
pub struct ProxyProcess {
    child: Child,
    pub workers_addr: SocketAddr,
    pub clients_addr: SocketAddr,
    pub stats_addr: SocketAddr,
    pub log_path: PathBuf,
}

/// What `start` needs.
pub struct ProxyOptions<'a> {
    pub cocoon: &'a Path,
    pub dir: &'a Path,
    pub model: &'a str,
    pub pow_difficulty: u32,
    pub rust_log: &'a str,
}

impl ProxyProcess {
    /// Writes the configs into `dir`, starts the proxy and waits (≤ 60 s) until
    /// its stats port answers.
    pub fn start(opts: &ProxyOptions<'_>) -> anyhow::Result<Self> {
        let (wport, cport, sport) = (free_port()?, free_port()?, free_port()?);
        let root = json!({
            "@type": "rootConfig.pseudo",
            "registered_proxies": [{"seqno": 1, "address": format!("127.0.0.1:{wport} 127.0.0.1:{cport}")}],
            "model_types": [opts.model],
            "price_per_token": 2,
            "worker_fee_per_token": 1,
            "last_proxy_seqno": 1,
            "version": CONFIG_VERSION,
            "params_version": 1,
            "root_owner_address": ton_address(),
        });
        let proxy = json!({
            "@type": "proxyRunner.config",
            "is_test": true,
            "workers_rpc_port": wport,
            "client_rpc_port": cport,
            "http_port": sport,
            "owner_address": ton_address(),
            "machine_specific_private_key": random_b64(),
            "node_wallet_key": random_b64(),
            "db_path": opts.dir.join("proxy-db").to_string_lossy(),
            "check_worker_hashes": false,
        });
        let root_path = opts.dir.join("root.json");
        let proxy_path = opts.dir.join("proxy.json");
        std::fs::write(&root_path, serde_json::to_vec_pretty(&root)?)?;
        std::fs::write(&proxy_path, serde_json::to_vec_pretty(&proxy)?)?;
        let log_path = opts.dir.join("proxy.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(opts.cocoon)
            .arg("proxy")
            .arg("--config")
            .arg(&proxy_path)
            .arg("--disable-ton")
            .arg(&root_path)
            .args([
                "--tee",
                "fake",
                "--worker-policy",
                "fake",
                "--client-policy",
                "any",
            ])
            .arg("--pow-difficulty")
            .arg(opts.pow_difficulty.to_string())
            .args(["--admin-listen", "off"])
            // Every simulated worker and client dials from 127.0.0.1, up to
            // --handshake-concurrency at a time: the per-address cap (32 by default) is
            // for floods from one host, not for this.
            .args(["--max-pending-per-address", "1000000"])
            .env("RUST_LOG", opts.rust_log)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", opts.cocoon.display()))?;
        let mut proc = ProxyProcess {
            child,
            workers_addr: SocketAddr::from(([127, 0, 0, 1], wport)),
            clients_addr: SocketAddr::from(([127, 0, 0, 1], cport)),
            stats_addr: SocketAddr::from(([127, 0, 0, 1], sport)),
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = proc.child.try_wait()? {
                bail!(
                    "the proxy exited ({status}); its log {}:\n{}",
                    proc.log_path.display(),
                    tail(&proc.log_path)
                );
            }
            if http_get_status(proc.stats_addr, "/jsonstats") == Some(200) {
                return Ok(proc);
            }
            if Instant::now() > deadline {
                bail!("the proxy did not answer /jsonstats within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the proxy is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a plain pid (our own child) and a signal number.
        let pid = self.child.id() as libc::pid_t;
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Memory of a process from `/proc/<pid>/status`, in KiB: (VmRSS, VmHWM).
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU seconds (user + system) of a process from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) / ticks)
}

/// Raises the soft open-file limit to the hard limit; returns (soft, hard) after.
pub fn raise_fd_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return (0, 0);
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    // rlim_t is u64 on Linux x86_64 but not on every target.
    #[allow(clippy::unnecessary_cast)]
    (lim.rlim_cur as u64, lim.rlim_max as u64)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Status code of a plain HTTP/1.1 GET, or `None` if it failed.
fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).ok()?;
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn random_b64() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A random user-friendly TON address (test-only identities).
pub fn ton_address() -> String {
    cocoon_ledger::address::random_friendly_address()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ton_address_is_48_chars() {
        assert_eq!(ton_address().len(), 48);
    }

    #[test]
    fn own_process_readings() {
        let pid = std::process::id();
        let (rss, hwm) = memory_kib(pid).expect("status");
        assert!(rss > 0 && hwm >= rss);
        assert!(cpu_seconds(pid).is_some());
        let (soft, hard) = raise_fd_limit();
        assert_eq!(soft, hard);
    }
}
