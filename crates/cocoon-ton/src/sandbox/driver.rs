//! The process side of `contracts-sandbox/driver.js`: spawns `node driver.js` and exchanges
//! one JSON line per request (the protocol is described at the top of that file), each
//! answer awaited with a timeout; every failure is an error value, never a panic.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use cocoon_ledger::accounting::NanoTon;
use serde::Deserialize;
use serde_json::{json, Value};
use tonlib_core::cell::{ArcCell, BagOfCells};

/// The longest one request may take (a first `reset` loads the emulator).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The contract names of the vectors (`cocoon_<name>.boc`).
pub const CONTRACT_NAMES: [&str; 5] = ["root", "proxy", "client", "worker", "wallet"];

/// One message as the sandbox reports it (amounts are decimal strings, bodies BoC base64).
#[derive(Clone, Debug, Deserialize)]
pub struct SandboxMsg {
    /// Sender (raw form); `None` for an external message.
    pub src: Option<String>,
    /// Destination (raw form).
    pub dest: Option<String>,
    /// nanoTON carried.
    pub value: String,
    /// Bounce flag.
    pub bounce: bool,
    /// Whether this is a bounce.
    pub bounced: bool,
    /// First 32 bits of the body.
    pub op: Option<u32>,
    /// The body cell (None when empty).
    pub body: Option<String>,
}

/// The compute phase of a transaction.
#[derive(Clone, Debug, Deserialize)]
pub struct SandboxCompute {
    /// Why it was skipped (`no-gas`, `no-state`, …).
    pub skipped: Option<String>,
    /// The exit code when it ran.
    pub exit_code: Option<i32>,
    /// Whether it succeeded.
    pub success: bool,
}

/// One transaction of a trace.
#[derive(Clone, Debug, Deserialize)]
pub struct SandboxTx {
    /// The account (raw form).
    pub account: String,
    /// Logical time (decimal).
    pub lt: String,
    /// Transaction hash (hex).
    pub hash: String,
    /// Its block time.
    pub now: u64,
    /// The inbound message.
    #[serde(rename = "in")]
    pub in_msg: Option<SandboxMsg>,
    /// Messages it sent.
    pub out: Vec<SandboxMsg>,
    /// The compute phase (`None` for non-generic transactions).
    pub compute: Option<SandboxCompute>,
    /// Whether the transaction was aborted.
    pub aborted: Option<bool>,
}

/// An account as the sandbox reports it.
#[derive(Clone, Debug, Deserialize)]
pub struct SandboxAccount {
    /// `active`, `uninit`, `frozen` or `nonexist`.
    pub status: String,
    /// Balance (decimal nanoTON).
    pub balance: String,
    /// Which vector's code it runs, if any.
    pub kind: Option<String>,
    /// Code cell (BoC base64) of an active account.
    pub code: Option<String>,
    /// Data cell (BoC base64) of an active account.
    pub data: Option<String>,
    /// The data cell's fields (contracts.md §2 names) for the vectors' codes.
    pub fields: Option<Value>,
}

impl SandboxAccount {
    /// The balance in nanoTON (0 when unreadable).
    pub fn balance(&self) -> NanoTon {
        self.balance.parse().unwrap_or(0)
    }
}

/// Everything one message caused.
#[derive(Clone, Debug, Deserialize)]
pub struct SandboxTrace {
    /// Transactions in execution order.
    pub transactions: Vec<SandboxTx>,
    /// The accounts touched, after the trace.
    pub accounts: HashMap<String, SandboxAccount>,
}

/// Where the driver and the code cells are.
#[derive(Clone, Debug)]
pub struct SandboxSetup {
    /// `contracts-sandbox/` (holds `driver.js` and `node_modules/`).
    pub driver_dir: PathBuf,
    /// The vectors directory (`COCOON_VECTORS`; code cells in `contracts/`).
    pub vectors: PathBuf,
}

impl SandboxSetup {
    /// Checks that the code cells, `node_modules` and `node` are there; says what is missing.
    pub fn check(driver_dir: &Path, vectors: &Path) -> Result<SandboxSetup, String> {
        for name in CONTRACT_NAMES {
            let file = vectors.join("contracts").join(format!("cocoon_{name}.boc"));
            if !file.is_file() {
                return Err(format!("missing vector {}", file.display()));
            }
        }
        if !driver_dir.join("node_modules/@ton/sandbox").is_dir() {
            return Err(format!(
                "{}/node_modules is missing (run `npm ci` there)",
                driver_dir.display()
            ));
        }
        Ok(SandboxSetup {
            driver_dir: driver_dir.to_path_buf(),
            vectors: vectors.to_path_buf(),
        })
    }

    /// For tests: the setup from `COCOON_VECTORS` and `driver_dir`, or `None` after printing
    /// why it is missing — except in CI (`CI` set and not `false`), where a missing vector or
    /// tool is a failure (a panic saying what is missing).
    pub fn from_env_for_tests(driver_dir: &Path) -> Option<SandboxSetup> {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        let why = match std::env::var_os("COCOON_VECTORS") {
            None => "COCOON_VECTORS is not set (the contract code cells)".to_owned(),
            Some(vectors) => match SandboxSetup::check(driver_dir, Path::new(&vectors)) {
                Ok(setup) => return Some(setup),
                Err(why) => why,
            },
        };
        assert!(!ci, "real contracts unavailable in CI: {why}");
        println!("skipped: {why}");
        None
    }

    /// The code cells of the vectors by name.
    pub fn codes(&self) -> Result<HashMap<&'static str, ArcCell>, String> {
        let mut codes = HashMap::new();
        for name in CONTRACT_NAMES {
            let file = self
                .vectors
                .join("contracts")
                .join(format!("cocoon_{name}.boc"));
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let cell = BagOfCells::parse(&bytes)
                .and_then(|b| b.single_root())
                .map_err(|e| format!("{}: {e}", file.display()))?;
            codes.insert(name, cell);
        }
        Ok(codes)
    }
}

/// The running driver process.
pub struct SandboxDriver {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: u64,
}

impl SandboxDriver {
    /// Starts `node driver.js` with a fresh chain whose clock is `now`.
    pub fn start(setup: &SandboxSetup, now: u64) -> Result<SandboxDriver, String> {
        let mut child = Command::new("node")
            .arg("driver.js")
            .current_dir(&setup.driver_dir)
            .env("COCOON_VECTORS", &setup.vectors)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run node: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut driver = SandboxDriver {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        driver.call(json!({"cmd": "reset", "now": now}))?;
        Ok(driver)
    }

    /// One request, its answer (an error for a driver error, a dead driver or a timeout).
    pub fn call(&mut self, mut req: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        req["id"] = json!(id);
        writeln!(self.stdin, "{req}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("driver gone: {e}"))?;
        let line = self
            .lines
            .recv_timeout(EXCHANGE_TIMEOUT)
            .map_err(|e| format!("no answer from the driver to {}: {e}", req["cmd"]))?;
        let answer: Value =
            serde_json::from_str(&line).map_err(|e| format!("driver answer: {e}"))?;
        if answer["id"] != json!(id) {
            return Err(format!("driver answered another request: {answer}"));
        }
        if answer["ok"] != json!(true) {
            return Err(answer["error"]
                .as_str()
                .unwrap_or("driver error")
                .to_owned());
        }
        Ok(answer)
    }

    /// A request whose answer is a trace.
    pub fn trace(&mut self, req: Value) -> Result<SandboxTrace, String> {
        let answer = self.call(req)?;
        serde_json::from_value(answer).map_err(|e| format!("trace: {e}"))
    }

    /// The account at a raw address.
    pub fn account(&mut self, raw: &str) -> Result<SandboxAccount, String> {
        let answer = self.call(json!({"cmd": "account", "address": raw}))?;
        serde_json::from_value(answer["account"].clone()).map_err(|e| format!("account: {e}"))
    }
}

impl Drop for SandboxDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
