//! A client's or worker's wallet on its ledger: the configured address and the last
//! balance read, for `/jsonstats` (devnet simplification: the wallet is `owner_address`).

use std::sync::Mutex;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::Ledger;
use serde_json::{json, Value};
use tonlib_core::TonAddress;

use super::vouchers::nano_json;

/// Our wallet and its last known balance.
#[derive(Debug)]
pub struct NodeWallet {
    /// The wallet address.
    pub address: TonAddress,
    /// The address as configured (shown to users).
    pub text: String,
    balance: Mutex<Option<NanoTon>>,
}

impl NodeWallet {
    /// The wallet `owner_address`.
    pub fn parse(owner_address: &str) -> Result<Self, String> {
        let address = parse_address(owner_address)
            .map_err(|e| format!("owner_address: {e}"))?
            .address;
        Ok(NodeWallet {
            address,
            text: owner_address.to_owned(),
            balance: Mutex::new(None),
        })
    }

    /// Reads the balance from `ledger` (kept as it was when the read fails).
    pub fn refresh(&self, ledger: &dyn Ledger) {
        if let Ok(balance) = ledger.wallet_balance(&self.address) {
            *self.balance.lock().unwrap_or_else(|e| e.into_inner()) = Some(balance);
        }
    }

    /// `(status.wallet_balance, wallet{…})` of `/jsonstats` on the network `network`.
    pub fn json(&self, network: &str) -> (Value, Value) {
        let balance = *self.balance.lock().unwrap_or_else(|e| e.into_inner());
        let balance = balance.map_or(Value::Null, nano_json);
        let wallet = json!({
            "address": self.text,
            "address_raw": self.address.to_hex(),
            "balance": balance,
            "network": network,
        });
        (balance, wallet)
    }
}
