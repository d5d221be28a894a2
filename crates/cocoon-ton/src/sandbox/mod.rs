//! **The real contracts as a chain** (feature `mock`; tests only): [`SandboxChain`] executes
//! every message with the real COCOON contracts' compiled code (the vectors' code cells) in
//! `@ton/sandbox`, through `contracts-sandbox/driver.js` ([`driver`]), and serves the result
//! as a [`ChainAccess`] — so `TonLedger`, and whole node processes behind
//! [`crate::mock_lite`]'s mock liteservers, run against the contracts' own code instead of
//! our model of them ([`crate::mock_chain`]).
//!
//! The root account holds the real root code with a data cell written by
//! [`crate::mock_chain::root_cell::root_data_cell`] from a [`RootConfig`] that publishes the
//! real proxy, worker and client codes (nodes derive contract addresses from them). Wallets
//! and other accounts are funded by [`SandboxChain::fund`] (a plain transfer from a faucet
//! address). Every transaction of every trace is recorded, with its inbound message, so the
//! liteservers can serve account histories; gas and fees are the emulator's.
//!
//! Calls into the driver block for the few milliseconds an emulated trace takes.

pub mod driver;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::contract_address;
use cocoon_ledger::root_config::{ContractCodes, RootConfig};
use serde_json::json;
use tonlib_core::cell::{ArcCell, BagOfCells, Cell};
use tonlib_core::{TonAddress, TonHash};

use crate::chain::{
    AccountSnapshot, BlockRef, ChainAccess, ChainError, ChainFuture, ChainTx, InMsg, TxId,
};
use crate::mock_chain::root_cell::root_data_cell;
use crate::mock_lite::ServedChain;
pub use driver::{SandboxAccount, SandboxDriver, SandboxSetup, SandboxTrace, SandboxTx};

/// Where funding transfers come from (an address nobody deploys).
pub const FAUCET: [u8; 32] = [0xfa; 32];

#[derive(Default)]
struct Recorded {
    /// Every account a trace touched, in first-seen order.
    accounts: Vec<TonAddress>,
    /// Transactions per account (raw form), oldest first.
    txs: HashMap<String, Vec<ChainTx>>,
    /// Bumped on every change (the served block seqno).
    version: u32,
    /// Transactions whose compute phase failed or that were aborted with a payload.
    failures: Vec<String>,
}

/// The chain (see the module doc).
pub struct SandboxChain {
    driver: Mutex<SandboxDriver>,
    recorded: Mutex<Recorded>,
    root_address: TonAddress,
    codes: HashMap<&'static str, ArcCell>,
    now: Mutex<u64>,
}

fn cell_of_b64(text: &str) -> Result<ArcCell, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| e.to_string())?;
    BagOfCells::parse(&bytes)
        .and_then(|b| b.single_root())
        .map_err(|e| e.to_string())
}

fn b64_of(cell: &Cell) -> Result<String, String> {
    let bytes = cocoon_ledger::boc::serialize(cell.clone()).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn parse_raw(text: &str) -> Result<TonAddress, String> {
    TonAddress::from_hex_str(text).map_err(|e| format!("{text}: {e}"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SandboxChain {
    /// Starts the driver at clock `now` and deploys the root contract serving `config`,
    /// whose `codes` are replaced by the vectors' real proxy, worker and client codes.
    pub fn start(
        setup: &SandboxSetup,
        now: u64,
        config: &RootConfig,
    ) -> Result<SandboxChain, String> {
        let codes = setup.codes()?;
        let driver = SandboxDriver::start(setup, now)?;
        let root_owner = TonAddress::new(0, TonHash::from([0x0f; 32]));
        let data = root_data_cell(&root_owner, config, &Self::contract_codes_of(&codes))
            .map_err(|e| format!("root data: {e}"))?;
        let data = Arc::new(data);
        let root_code = codes["root"].clone();
        let root_address = contract_address(&root_code, &data).map_err(|e| e.to_string())?;
        let chain = SandboxChain {
            driver: Mutex::new(driver),
            recorded: Mutex::new(Recorded::default()),
            root_address: root_address.clone(),
            codes,
            now: Mutex::new(now),
        };
        let trace = lock(&chain.driver).trace(json!({
            "cmd": "send", "from": TonAddress::new(0, TonHash::from(FAUCET)).to_hex(),
            "to": root_address.to_hex(), "value": "1000000000", "body": null, "bounce": false,
            "init": {"code": b64_of(&root_code)?, "data": b64_of(&data)?},
        }))?;
        chain.record(&trace)?;
        Ok(chain)
    }

    fn contract_codes_of(codes: &HashMap<&'static str, ArcCell>) -> ContractCodes {
        ContractCodes {
            proxy: codes["proxy"].clone(),
            worker: codes["worker"].clone(),
            client: codes["client"].clone(),
        }
    }

    /// The proxy, worker and client codes the root publishes (the real ones).
    pub fn contract_codes(&self) -> ContractCodes {
        Self::contract_codes_of(&self.codes)
    }

    /// The real code cell called `name` (`root`, `proxy`, `client`, `worker`, `wallet`).
    pub fn code(&self, name: &str) -> Option<ArcCell> {
        self.codes.get(name).cloned()
    }

    /// The root contract address.
    pub fn root_address(&self) -> TonAddress {
        self.root_address.clone()
    }

    /// Sends `amount` to `address` from [`FAUCET`] (non-bounceable, empty body).
    pub fn fund(&self, address: &TonAddress, amount: NanoTon) -> Result<(), String> {
        let trace = lock(&self.driver).trace(json!({
            "cmd": "send", "from": TonAddress::new(0, TonHash::from(FAUCET)).to_hex(),
            "to": address.to_hex(), "value": amount.to_string(), "body": null, "bounce": false,
            "init": null,
        }))?;
        self.record(&trace)
    }

    /// The account as the sandbox sees it now (fields parsed for the vectors' codes).
    pub fn account_raw(&self, address: &TonAddress) -> Result<SandboxAccount, String> {
        lock(&self.driver).account(&address.to_hex())
    }

    /// Every transaction of `address`, oldest first.
    pub fn history(&self, address: &TonAddress) -> Vec<ChainTx> {
        lock(&self.recorded)
            .txs
            .get(&address.to_hex())
            .cloned()
            .unwrap_or_default()
    }

    /// Transactions that failed (compute exit code ≠ 0/1, or aborted), as text, oldest first.
    pub fn failures(&self) -> Vec<String> {
        lock(&self.recorded).failures.clone()
    }

    fn record(&self, trace: &SandboxTrace) -> Result<(), String> {
        let mut rec = lock(&self.recorded);
        for tx in &trace.transactions {
            let account = parse_raw(&tx.account)?;
            if !rec.accounts.contains(&account) {
                rec.accounts.push(account.clone());
            }
            let in_msg = match &tx.in_msg {
                None => None,
                Some(m) => Some(InMsg {
                    source: m.src.as_deref().map(parse_raw).transpose()?,
                    body: match &m.body {
                        Some(b) => cell_of_b64(b)?,
                        None => Arc::new(Cell::default()),
                    },
                    value: m.value.parse().map_err(|_| "message value")?,
                }),
            };
            let mut hash = [0u8; 32];
            hex_into(&tx.hash, &mut hash)?;
            let list = rec.txs.entry(tx.account.clone()).or_default();
            let prev = list.last().map(|t| t.id);
            list.push(ChainTx {
                id: TxId {
                    lt: tx.lt.parse().map_err(|_| "lt")?,
                    hash,
                },
                prev,
                utime: tx.now,
                in_msg,
            });
            let failed = tx.aborted == Some(true)
                && tx
                    .compute
                    .as_ref()
                    .is_some_and(|c| c.skipped.is_none() && !c.success);
            if failed {
                rec.failures.push(format!(
                    "{} op {:?}: exit {:?}",
                    tx.account,
                    tx.in_msg.as_ref().and_then(|m| m.op),
                    tx.compute.as_ref().and_then(|c| c.exit_code)
                ));
            }
        }
        rec.version += 1;
        Ok(())
    }

    fn snapshot(&self, address: &TonAddress) -> Result<Option<AccountSnapshot>, ChainError> {
        let account = self.account_raw(address).map_err(ChainError::Unavailable)?;
        let last_tx = lock(&self.recorded)
            .txs
            .get(&address.to_hex())
            .and_then(|t| t.last())
            .map(|t| t.id);
        let cell = |c: &Option<String>| -> Result<Option<ArcCell>, ChainError> {
            c.as_deref()
                .map(cell_of_b64)
                .transpose()
                .map_err(ChainError::Malformed)
        };
        Ok(match account.status.as_str() {
            "nonexist" => None,
            _ => Some(AccountSnapshot {
                balance: account.balance(),
                code: cell(&account.code)?,
                data: cell(&account.data)?,
                last_tx,
            }),
        })
    }
}

fn hex_into(text: &str, out: &mut [u8; 32]) -> Result<(), String> {
    if text.len() != 64 {
        return Err(format!("hash {text:?}"));
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(())
}

impl ChainAccess for SandboxChain {
    fn last_block(&self) -> ChainFuture<'_, BlockRef> {
        let seqno = lock(&self.recorded).version;
        let utime = *lock(&self.now);
        let mut root_hash = [0u8; 32];
        root_hash[..4].copy_from_slice(&seqno.to_be_bytes());
        Box::pin(async move {
            Ok(BlockRef {
                seqno,
                root_hash,
                utime,
            })
        })
    }

    fn account<'a>(&'a self, address: &'a TonAddress) -> ChainFuture<'a, Option<AccountSnapshot>> {
        Box::pin(async move { self.snapshot(address) })
    }

    fn transactions<'a>(
        &'a self,
        address: &'a TonAddress,
        from: TxId,
        limit: usize,
    ) -> ChainFuture<'a, Vec<ChainTx>> {
        Box::pin(async move {
            let all = self.history(address);
            let Some(at) = all.iter().position(|t| t.id == from) else {
                return Err(ChainError::Rejected(format!(
                    "no transaction {} of {}",
                    from.lt,
                    address.to_hex()
                )));
            };
            Ok(all[..=at].iter().rev().take(limit).cloned().collect())
        })
    }

    fn send_external<'a>(&'a self, boc: &'a [u8]) -> ChainFuture<'a, ()> {
        Box::pin(async move {
            let b64 = base64::engine::general_purpose::STANDARD.encode(boc);
            let trace = lock(&self.driver)
                .trace(json!({"cmd": "message", "boc": b64}))
                .map_err(|e| ChainError::Rejected(first_line(&e)))?;
            self.record(&trace).map_err(ChainError::Malformed)
        })
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_owned()
}

impl ServedChain for SandboxChain {
    fn served_accounts(&self) -> Result<Vec<TonAddress>, String> {
        let mut all = vec![self.root_address.clone()];
        for a in &lock(&self.recorded).accounts {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        Ok(all)
    }

    fn transactions_of(&self, address: &TonAddress) -> Vec<ChainTx> {
        self.history(address)
    }

    fn clock(&self) -> u64 {
        *lock(&self.now)
    }

    fn move_clock_to(&self, now: u64) -> Result<(), String> {
        lock(&self.driver).call(json!({"cmd": "set_now", "now": now}))?;
        *lock(&self.now) = now;
        lock(&self.recorded).version += 1;
        Ok(())
    }
}
