//! The real COCOON contracts executed in `@ton/sandbox` through `cocoon_ton::sandbox`
//! (`node driver.js` of `contracts-sandbox/`, the protocol described at the top of that
//! file: one JSON line per request, each answer awaited with a timeout), with the typed
//! answers and panicking helpers these tests want.
//!
//! [`Sandbox::start`] returns `None` (after printing why) when `COCOON_VECTORS`, `node` or
//! `contracts-sandbox/node_modules` is missing, and panics instead when `CI` is set: in CI
//! a missing vector or tool is a failure.

use std::collections::HashMap;
use std::path::PathBuf;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::boc;
use cocoon_ton::sandbox::{SandboxDriver, SandboxSetup};
use serde::Deserialize;
use serde_json::{json, Value};
use tonlib_core::cell::{ArcCell, BagOfCells, Cell};
use tonlib_core::TonAddress;

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

/// The running driver (the process is `cocoon_ton::sandbox::SandboxDriver`).
pub struct Sandbox {
    driver: SandboxDriver,
    /// The code cells of the vectors (`root`, `proxy`, `client`, `worker`, `wallet`).
    pub codes: HashMap<String, ArcCell>,
}

impl Sandbox {
    /// Starts the driver, or says why it cannot (see the module doc).
    pub fn start(now: u64) -> Option<Sandbox> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts-sandbox");
        let setup = SandboxSetup::from_env_for_tests(&dir)?;
        let codes = setup
            .codes()
            .expect("code cells")
            .into_iter()
            .map(|(name, cell)| (name.to_owned(), cell))
            .collect();
        let driver = SandboxDriver::start(&setup, now).expect("the sandbox driver starts");
        Some(Sandbox { driver, codes })
    }

    /// One request, its answer (panics on a driver error or a timeout).
    pub fn call(&mut self, req: Value) -> Value {
        let what = req.to_string();
        self.driver
            .call(req)
            .unwrap_or_else(|e| panic!("driver error for {what}: {e}"))
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
