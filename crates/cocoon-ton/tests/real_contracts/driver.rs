//! The real COCOON contracts executed in `@ton/sandbox`: spawns `node driver.js` of
//! `contracts-sandbox/` (the protocol is described at the top of that file) and exchanges
//! one JSON line per request, each answer awaited with a timeout.
//!
//! [`Sandbox::start`] returns `None` (after printing why) when `COCOON_VECTORS`, `node` or
//! `contracts-sandbox/node_modules` is missing, and panics instead when `CI` is set: in CI
//! a missing vector or tool is a failure.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::boc;
use serde::Deserialize;
use serde_json::{json, Value};
use tonlib_core::cell::{ArcCell, BagOfCells, Cell};
use tonlib_core::TonAddress;

/// The longest one request may take (a first `reset` loads the emulator).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// One message as the sandbox reports it.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)] // every field is printed (Debug) when an assertion fails
pub struct Msg {
    pub src: Option<String>,
    pub dest: Option<String>,
    pub value: String,
    pub bounce: bool,
    pub bounced: bool,
    pub op: Option<u32>,
    pub body: Option<String>,
}

impl Msg {
    pub fn value(&self) -> NanoTon {
        self.value.parse().expect("value")
    }

    /// The body cell (panics on an empty body).
    pub fn body_cell(&self) -> Cell {
        cell_of(self.body.as_deref().expect("message body"))
    }
}

/// The compute phase.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)] // every field is printed (Debug) when an assertion fails
pub struct Compute {
    pub skipped: Option<String>,
    pub exit_code: Option<i32>,
    pub success: bool,
}

/// One transaction.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)] // every field is printed (Debug) when an assertion fails
pub struct Tx {
    pub account: String,
    #[serde(rename = "in")]
    pub in_msg: Option<Msg>,
    pub out: Vec<Msg>,
    pub compute: Option<Compute>,
    pub aborted: Option<bool>,
}

impl Tx {
    /// The exit code (`None` when the compute phase was skipped).
    pub fn exit_code(&self) -> Option<i32> {
        self.compute.as_ref().and_then(|c| c.exit_code)
    }
}

/// An account after a step.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)] // every field is printed (Debug) when an assertion fails
pub struct Account {
    pub status: String,
    pub balance: String,
    pub kind: Option<String>,
    pub fields: Option<Value>,
}

impl Account {
    pub fn balance(&self) -> NanoTon {
        self.balance.parse().expect("balance")
    }

    /// A data field (contracts.md §2 names) as a number; amounts are decimal strings.
    pub fn field(&self, name: &str) -> u128 {
        let v = &self.fields.as_ref().expect("parsed data")[name];
        match v {
            Value::String(s) => s.parse().expect("numeric field"),
            Value::Number(n) => n.as_u64().expect("u64 field").into(),
            other => panic!("field {name} is {other}"),
        }
    }
}

/// Everything one message caused.
#[derive(Clone, Debug, Deserialize)]
pub struct Trace {
    pub transactions: Vec<Tx>,
    pub accounts: HashMap<String, Account>,
}

impl Trace {
    /// The transaction of `account` that the message with `op` caused (the first one).
    pub fn tx_on(&self, account: &TonAddress, op: u32) -> &Tx {
        let raw = account.to_hex();
        self.transactions
            .iter()
            .find(|t| t.account == raw && t.in_msg.as_ref().and_then(|m| m.op) == Some(op))
            .unwrap_or_else(|| panic!("no transaction with op {op:#x} on {raw}: {self:#?}"))
    }

    /// The messages sent to `dest` during the trace.
    pub fn sent_to(&self, dest: &TonAddress) -> Vec<&Msg> {
        let raw = dest.to_hex();
        self.transactions
            .iter()
            .flat_map(|t| t.out.iter())
            .filter(|m| m.dest.as_deref() == Some(raw.as_str()))
            .collect()
    }

    /// The exit code of the first transaction (the one the sent message caused).
    pub fn first_exit(&self) -> Option<i32> {
        self.transactions.first().and_then(Tx::exit_code)
    }
}

pub fn cell_of(b64: &str) -> Cell {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    BagOfCells::parse(&bytes)
        .and_then(|b| b.single_root())
        .map(|c| Cell::clone(&c))
        .expect("boc")
}

fn b64_of(cell: &Cell) -> String {
    use base64::Engine;
    let bytes = boc::serialize(cell.clone()).expect("serialize");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The running driver.
pub struct Sandbox {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: u64,
    /// The code cells of the vectors (`root`, `proxy`, `client`, `worker`, `wallet`).
    pub codes: HashMap<String, ArcCell>,
}

fn unavailable(why: String) -> Option<Sandbox> {
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!("real contracts unavailable in CI: {why}");
    }
    println!("skipped: {why}");
    None
}

impl Sandbox {
    /// Starts the driver, or says why it cannot (see the module doc).
    pub fn start(now: u64) -> Option<Sandbox> {
        let Some(vectors) = std::env::var_os("COCOON_VECTORS").map(PathBuf::from) else {
            return unavailable("COCOON_VECTORS is not set (the contract code cells)".into());
        };
        let contracts = vectors.join("contracts");
        let mut codes = HashMap::new();
        for name in ["root", "proxy", "client", "worker", "wallet"] {
            let file = contracts.join(format!("cocoon_{name}.boc"));
            let Ok(bytes) = std::fs::read(&file) else {
                return unavailable(format!("missing vector {}", file.display()));
            };
            let cell = BagOfCells::parse(&bytes)
                .and_then(|b| b.single_root())
                .expect("code cell");
            codes.insert(name.to_owned(), cell);
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts-sandbox");
        if !dir.join("node_modules/@ton/sandbox").is_dir() {
            return unavailable(format!(
                "{}/node_modules is missing (run `npm ci` there)",
                dir.display()
            ));
        }
        let child = Command::new("node")
            .arg("driver.js")
            .current_dir(&dir)
            .env("COCOON_VECTORS", &vectors)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return unavailable(format!("cannot run node: {e}")),
        };
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sandbox = Sandbox {
            child,
            stdin,
            lines,
            next_id: 1,
            codes,
        };
        sandbox.call(json!({"cmd": "reset", "now": now}));
        Some(sandbox)
    }

    /// One request, its answer (panics on a driver error or a timeout).
    pub fn call(&mut self, mut req: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        req["id"] = json!(id);
        writeln!(self.stdin, "{req}").expect("write to the driver");
        self.stdin.flush().expect("flush");
        let line = self
            .lines
            .recv_timeout(EXCHANGE_TIMEOUT)
            .unwrap_or_else(|e| panic!("no answer from the driver to {req}: {e}"));
        let answer: Value = serde_json::from_str(&line).expect("driver answer is JSON");
        assert_eq!(answer["id"], json!(id), "answer to another request");
        assert_eq!(
            answer["ok"],
            json!(true),
            "driver error for {req}: {answer}"
        );
        answer
    }

    pub fn code(&self, name: &str) -> ArcCell {
        self.codes[name].clone()
    }

    /// Sends one internal message from `from` (any address: the sandbox does not debit it).
    pub fn send(
        &mut self,
        from: &TonAddress,
        to: &TonAddress,
        value: NanoTon,
        body: Option<&Cell>,
        init: Option<(&ArcCell, &Cell)>,
    ) -> Trace {
        let init = init.map(|(code, data)| json!({"code": b64_of(code), "data": b64_of(data)}));
        let answer = self.call(json!({
            "cmd": "send",
            "from": from.to_hex(),
            "to": to.to_hex(),
            "value": value.to_string(),
            "body": body.map(b64_of),
            "bounce": init.is_none(),
            "init": init,
        }));
        serde_json::from_value(answer).expect("trace")
    }

    pub fn advance(&mut self, seconds: u64) -> u64 {
        self.call(json!({"cmd": "advance", "seconds": seconds}))["now"]
            .as_u64()
            .expect("now")
    }

    pub fn account(&mut self, address: &TonAddress) -> Account {
        let answer = self.call(json!({"cmd": "account", "address": address.to_hex()}));
        serde_json::from_value(answer["account"].clone()).expect("account")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
