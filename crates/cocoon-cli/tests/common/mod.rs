//! Shared helpers of the integration tests: start `cocoon up` as a real
//! process on loopback, wait for its progress lines (with a deadline), and
//! stop it (and, through it, every node) when dropped.

#![allow(dead_code)]

#[cfg(target_os = "linux")]
pub mod sockets;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a whole network may take to come up (debug builds on 2 cores).
pub const UP_TIMEOUT: Duration = Duration::from_secs(120);

/// One node line printed by `cocoon up`: name, pid, stats and admin addresses.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub pid: u32,
    pub stats: Option<String>,
    pub admin: Option<String>,
}

/// A running `cocoon up`.
pub struct UpNetwork {
    child: Child,
    pub client_url: String,
    /// `http://host:port` of the fake engine, when `up` started one.
    pub engine_url: Option<String>,
    pub nodes: Vec<NodeInfo>,
    /// `up`'s standard output lines after "client ready".
    lines: std::sync::Mutex<mpsc::Receiver<String>>,
    _dir: TempDir,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl UpNetwork {
    /// Starts `cocoon up` with `extra` arguments and waits until the client is ready.
    pub fn start(extra: &[&str]) -> UpNetwork {
        Self::start_with_env(extra, &[])
    }

    /// As [`UpNetwork::start`], with extra environment variables for `up` and its nodes.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> UpNetwork {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir =
            std::env::temp_dir().join(format!("cocoon-it-{}-{}", std::process::id(), nanos()));
        let port = free_port().to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cocoon"));
        cmd.arg("up")
            .arg("--dir")
            .arg(&dir)
            .args(["--port", &port, "--ready-timeout", "90"])
            .args(extra)
            .envs(env.iter().copied());
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn cocoon up");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keep draining after the test stopped listening, so `up` never sees a closed pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("[up] {line}");
                let _ = tx.send(line);
            }
        });
        let mut net = UpNetwork {
            child,
            client_url: format!("http://127.0.0.1:{port}"),
            engine_url: None,
            nodes: Vec::new(),
            lines: std::sync::Mutex::new(rx),
            _dir: TempDir(dir),
        };
        let deadline = Instant::now() + UP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match net.next_line(left) {
                Some(l) => l,
                None => panic!("cocoon up did not get ready within {UP_TIMEOUT:?} (or exited)"),
            };
            if let Some(url) = parse_fake_engine_url(&line) {
                net.engine_url = Some(url);
            }
            if let Some(info) = parse_node_line(&line) {
                net.nodes.push(info);
            }
            if line.contains("client ready") {
                return net;
            }
        }
    }

    fn next_line(&self, timeout: Duration) -> Option<String> {
        let rx = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        rx.recv_timeout(timeout).ok()
    }

    /// Waits (at most `timeout`) for the next line of `up`'s output containing `needle`.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Some(line) if line.contains(needle) => return line,
                Some(_) => {}
                None => panic!("no line with {needle:?} from cocoon up within {timeout:?}"),
            }
        }
    }

    /// Sends `up` SIGINT (as Ctrl-C) and waits up to `timeout` for it to exit;
    /// returns how long it took, `None` if it did not exit in time.
    pub fn interrupt(&mut self, timeout: Duration) -> Option<Duration> {
        // SAFETY: signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn node(&self, name: &str) -> &NodeInfo {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in {:?}", self.nodes))
    }

    /// The directory of the network (configs, `<node>.log`).
    pub fn dir(&self) -> &std::path::Path {
        &self._dir.0
    }

    /// The admin token of node `name` (`cocoon up` keeps it in `<dir>/<name>.admin-token`).
    pub fn admin_token(&self, name: &str) -> String {
        let path = self.dir().join(format!("{name}.admin-token"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }

    pub fn workers(&self) -> Vec<NodeInfo> {
        self.nodes
            .iter()
            .filter(|n| n.name.starts_with("worker"))
            .cloned()
            .collect()
    }
}

impl Drop for UpNetwork {
    fn drop(&mut self) {
        // SAFETY: signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `cocoon up: <name> ... stats http://ADDR/... [pid N]`.
fn parse_node_line(line: &str) -> Option<NodeInfo> {
    let rest = line.strip_prefix("cocoon up: ")?;
    let name = rest.split_whitespace().next()?.to_string();
    let pid = line
        .rsplit_once("[pid ")?
        .1
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let addr_after = |marker: &str| {
        line.split(marker)
            .nth(1)
            .and_then(|s| s.split(['/', ')', ',', ' ']).next())
            .map(str::to_string)
    };
    Some(NodeInfo {
        name,
        pid,
        stats: addr_after("stats http://"),
        admin: addr_after("admin http://"),
    })
}

/// Parses `cocoon up: engine up (fake) at http://ADDR [pid N]`.
fn parse_fake_engine_url(line: &str) -> Option<String> {
    let rest = line.strip_prefix("cocoon up: engine up (fake) at ")?;
    Some(rest.split_whitespace().next()?.to_string())
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// GET `http://addr/jsonstats` as JSON.
pub async fn json_stats(http: &reqwest::Client, addr: &str) -> serde_json::Value {
    http.get(format!("http://{addr}/jsonstats"))
        .send()
        .await
        .expect("jsonstats")
        .json()
        .await
        .expect("jsonstats json")
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not true within {timeout:?}");
}

/// The usage object of an SSE body (the last `data:` event carrying `usage`).
pub fn sse_usage(body: &str) -> Option<serde_json::Value> {
    body.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v.get("usage").filter(|u| !u.is_null()).cloned())
        .next()
}

/// Adjusted total of an OpenAI usage object at coefficient 1.0 and unit multipliers
/// (runners.md §5.2: prompt and completion totals; cached ⊆ prompt, reasoning ⊆ completion).
pub fn adjusted_total(usage: &serde_json::Value) -> u64 {
    usage["prompt_tokens"].as_u64().unwrap_or(0) + usage["completion_tokens"].as_u64().unwrap_or(0)
}

/// Sum of `total_adjusted_tokens_used` over the workers.
pub async fn workers_tokens(http: &reqwest::Client, net: &UpNetwork) -> u64 {
    let mut sum = 0;
    for w in net.workers() {
        let stats = json_stats(http, w.stats.as_deref().expect("worker stats")).await;
        sum += stats["stats"]["total_adjusted_tokens_used"]
            .as_u64()
            .unwrap_or(0);
    }
    sum
}
