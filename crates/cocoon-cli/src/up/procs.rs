//! Child processes of `cocoon up` (each node is `cocoon <subcommand>` with its
//! output in `<dir>/<name>.log`), readiness polling with deadlines, their
//! supervision (a node that exits is restarted with backoff, see
//! [`super::supervise`]) and a minimal blocking HTTP/1.0 client for loopback
//! probes. Children are killed when the [`Network`] is dropped and, on Linux,
//! when this process dies (parent-death signal), so no orphans are left behind.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::supervise::Backoff;

struct Node {
    name: String,
    args: Vec<OsString>,
    child: Child,
    log: PathBuf,
    started: Instant,
    backoff: Backoff,
    /// Set while the node is down: when to start it again.
    restart_at: Option<Instant>,
}

/// The running nodes of a local network.
pub struct Network {
    exe: PathBuf,
    dir: PathBuf,
    nodes: Vec<Node>,
}

impl Network {
    pub fn new(exe: PathBuf, dir: PathBuf) -> Self {
        Network {
            exe,
            dir,
            nodes: Vec::new(),
        }
    }

    /// Starts `cocoon <args>` as node `name`, logging to `<dir>/<name>.log`.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(
        &mut self,
        name: &str,
        args: &[S],
    ) -> anyhow::Result<u32> {
        let log = self.dir.join(format!("{name}.log"));
        let args: Vec<OsString> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        let child = start_child(&self.exe, name, &args, &log, false)?;
        let pid = child.id();
        self.nodes.push(Node {
            name: name.to_string(),
            args,
            child,
            log,
            started: Instant::now(),
            backoff: Backoff::default(),
            restart_at: None,
        });
        Ok(pid)
    }

    /// Polls `ready` until it holds, the node exits, or `timeout` passes; the
    /// error names the node and shows the tail of its log.
    pub fn wait_ready(
        &mut self,
        name: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            // Ready only while alive: a probe answered by some other process on the port
            // (ours failed to bind it) must not count.
            let alive = |nodes: &mut Vec<Node>| {
                nodes
                    .iter_mut()
                    .find(|n| n.name == name)
                    .is_none_or(|n| matches!(n.child.try_wait(), Ok(None)))
            };
            if ready() && alive(&mut self.nodes) {
                return Ok(());
            }
            if let Some(node) = self.nodes.iter_mut().find(|n| n.name == name) {
                if let Ok(Some(status)) = node.child.try_wait() {
                    anyhow::bail!(
                        "{name} exited ({status}) before it was ready; last lines of {}:\n{}",
                        node.log.display(),
                        tail(&node.log)
                    );
                }
            }
            if Instant::now() >= deadline {
                let log = self.dir.join(format!("{name}.log"));
                anyhow::bail!(
                    "{name} was not ready within {} s; last lines of {}:\n{}",
                    timeout.as_secs(),
                    log.display(),
                    tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Supervises the nodes until the caller stops awaiting (Ctrl-C): a node
    /// that exits is reported (name, exit status, the tail of its log, when it
    /// is tried again) and started again with the same arguments after its
    /// backoff delay; the others keep running. Its log is appended to.
    pub async fn watch(&mut self) {
        loop {
            let now = Instant::now();
            for node in &mut self.nodes {
                match node.restart_at {
                    Some(at) if now >= at => restart(&self.exe, node),
                    Some(_) => {}
                    None => {
                        if let Ok(Some(status)) = node.child.try_wait() {
                            let delay = node.backoff.after_exit(node.started.elapsed());
                            say(&format!(
                                "cocoon up: {} exited ({status}); next try in {} s (restart {}), the other nodes keep running; last lines of {}:\n{}",
                                node.name,
                                delay.as_secs(),
                                node.backoff.restarts(),
                                node.log.display(),
                                tail(&node.log)
                            ));
                            node.restart_at = Some(now + delay);
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops every node (SIGTERM, then SIGKILL after a grace period), newest first.
    pub fn stop_all(&mut self) {
        for node in self.nodes.iter_mut().rev() {
            terminate(&mut node.child);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for node in self.nodes.iter_mut().rev() {
            while Instant::now() < deadline && matches!(node.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        self.nodes.clear();
    }
}

/// Starts `node` again (a failed start counts as an exit and is retried).
fn restart(exe: &Path, node: &mut Node) {
    node.restart_at = None;
    node.started = Instant::now();
    match start_child(exe, &node.name, &node.args, &node.log, true) {
        Ok(child) => {
            say(&format!(
                "cocoon up: {} restarted [pid {}]",
                node.name,
                child.id()
            ));
            node.child = child;
        }
        Err(e) => {
            let delay = node.backoff.after_exit(Duration::ZERO);
            say(&format!(
                "cocoon up: {} did not start ({e:#}); next try in {} s",
                node.name,
                delay.as_secs()
            ));
            node.restart_at = Some(Instant::now() + delay);
        }
    }
}

/// Starts `exe args` as node `name` with its output in `log` (appended to on a restart).
fn start_child(
    exe: &Path,
    name: &str,
    args: &[OsString],
    log: &Path,
    append: bool,
) -> anyhow::Result<Child> {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    if append {
        writeln!(out, "--- cocoon up: {name} restarted ---")?;
    }
    let err = out.try_clone()?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    set_parent_death_signal(&mut cmd);
    cmd.spawn()
        .with_context(|| format!("starting {name} ({})", exe.display()))
}

/// One line (or block) on standard output, where `cocoon up` prints its progress.
fn say(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_cmd: &mut Command) {}

#[cfg(unix)]
fn terminate(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: plain syscall on our own child's pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) {
    let _ = child.kill();
}

/// The last 20 lines of a log file.
pub fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Where [`free_port`] looks first: below Linux's default ephemeral range (32768–60999),
/// so that the port is not handed to some outgoing connection before the node binds it.
const QUIET_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// Ports [`free_port`] handed out, each still bound by us (so that no other `cocoon up`
/// running at the same time can pick it) until [`release_ports`] lets its node bind it.
static HELD_PORTS: std::sync::Mutex<Vec<TcpListener>> = std::sync::Mutex::new(Vec::new());

/// A free port on 127.0.0.1 (a random one below the ephemeral range if possible, else an
/// ephemeral one), **held** bound until [`release_ports`] — call that right before starting
/// the process that listens on it.
pub fn free_port() -> anyhow::Result<u16> {
    let mut rng = rand::thread_rng();
    let listener = (0..64)
        .find_map(|_| {
            TcpListener::bind(("127.0.0.1", rand::Rng::gen_range(&mut rng, QUIET_PORTS))).ok()
        })
        .map_or_else(
            || TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port"),
            Ok,
        )?;
    let port = listener.local_addr()?.port();
    HELD_PORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(listener);
    Ok(port)
}

/// Stops holding `ports` (from [`free_port`]; others are ignored) so a node can bind them.
pub fn release_ports(ports: &[u16]) {
    HELD_PORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|l| l.local_addr().map_or(true, |a| !ports.contains(&a.port())));
}

pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A short string unique to this moment, for directory names.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:08x}")
}

/// `GET path` over HTTP/1.0; returns (status, body).
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    http_request(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n"),
        GET_TIMEOUT,
    )
}

/// How long a `GET` (a stats or readiness probe) may stay silent.
const GET_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a `POST` (a whole non-streamed completion) may stay silent: a real model on a
/// busy CPU answers only at the end.
const POST_TIMEOUT: Duration = Duration::from_secs(180);

/// `POST path` with a JSON body over HTTP/1.0; returns (status, body).
pub fn http_post_json(addr: &str, path: &str, body: &str) -> anyhow::Result<(u16, String)> {
    http_request(
        addr,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        POST_TIMEOUT,
    )
}

fn http_request(addr: &str, request: &str, timeout: Duration) -> anyhow::Result<(u16, String)> {
    let sock: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("bad address {addr}"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(2))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).with_context(|| {
        format!(
            "reading the answer from {addr} (nothing for {} s, or the connection failed)",
            timeout.as_secs()
        )
    })?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status line")?;
    Ok((status, body.to_string()))
}
