//! The money loop's last view of the ledger, kept for `/jsonstats` so that the stats
//! handler never touches the ledger itself.

use std::collections::BTreeMap;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::{ClientContractState, ProxyContractState, WorkerContractState};

/// What the money loop last read and did.
#[derive(Debug, Clone, Default)]
pub struct MoneyView {
    /// Our wallet's balance.
    pub wallet_balance: Option<NanoTon>,
    /// Our proxy contract.
    pub proxy: Option<ProxyContractState>,
    /// Client contracts by client owner (absent: not deployed or not read yet).
    pub clients: BTreeMap<String, ClientContractState>,
    /// Worker contracts by worker owner (absent: not deployed or not read yet).
    pub workers: BTreeMap<String, WorkerContractState>,
    /// Highest seqno sent in a `save_state` this session.
    pub sent_seqno: u64,
    /// Highest of our seqnos read back from the proxy contract.
    pub confirmed_seqno: u64,
    /// Client charges accepted by the ledger (count, tokens, nanoTON).
    pub charges: Totals,
    /// Worker payouts accepted by the ledger.
    pub payouts: Totals,
    /// Commission withdrawn to our wallet (count, nanoTON).
    pub withdrawals: Totals,
    /// The last error of a ledger operation, if any.
    pub last_error: Option<String>,
    /// Old proxy contracts being closed: (address, step, close_at, clients left, workers
    /// left).
    pub old_contracts: Vec<OldContractView>,
    /// The contract was left (params bump or operator request); a restart is pending.
    pub retired: bool,
    /// Disabled: our contract was left on an operator request and is being closed.
    pub disabled: bool,
}

/// Where the close of one old proxy contract stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OldContractView {
    pub proxy_sc: String,
    pub step: String,
    pub close_at: u64,
    pub clients_left: usize,
    pub workers_left: usize,
}

/// Count, tokens and nanoTON of accepted operations.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Totals {
    pub count: u64,
    pub tokens: u64,
    pub nanoton: NanoTon,
}

impl Totals {
    pub(super) fn add(&mut self, tokens: u64, nanoton: NanoTon) {
        self.count += 1;
        self.tokens = self.tokens.saturating_add(tokens);
        self.nanoton = self.nanoton.saturating_add(nanoton);
    }
}
