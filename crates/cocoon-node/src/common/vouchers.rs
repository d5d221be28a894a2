//! The payments a client or worker receives from its proxies (runners.md §6.2–§6.3):
//! every voucher is verified against the proxy's public key and *our own* contract
//! address (derived here, not taken from the proxy), and the highest one is kept.
//!
//! **Devnet**: our contract address is derived from the devnet placeholder codes and the
//! devnet default root params (`cocoon_ledger::address`); nothing is submitted on chain.

use std::collections::BTreeMap;
use std::sync::Mutex;

use cocoon_ledger::address::{
    derive_contract_address, devnet_placeholder_codes, parse_address, ContractSpec,
};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{Offer, VoucherKeeper, VoucherKind};
use cocoon_wire::schema::{enums, types};
use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};

/// What we know about the payments of one proxy.
#[derive(Debug)]
pub struct ReceivedPayments {
    kind: VoucherKind,
    proxy_key: [u8; 32],
    proxy_sc_address: String,
    /// Our contract at that proxy, or why it could not be derived.
    our_sc: Result<String, String>,
    keeper: Option<VoucherKeeper>,
    /// The proxy's latest `db_tokens` / `max_tokens` for us.
    db_tokens: i64,
    max_tokens: i64,
    accepted: u64,
    rejected: u64,
    last_error: Option<String>,
}

impl ReceivedPayments {
    /// Payments of vouchers of `kind` for our wallet `owner` from the proxy `params`.
    pub fn new(kind: VoucherKind, owner: &str, params: &types::proxy::Params) -> Self {
        let derived = derive_ours(kind, owner, params);
        let keeper = derived
            .as_ref()
            .ok()
            .map(|(address, key)| VoucherKeeper::new(kind, address.clone(), *key));
        ReceivedPayments {
            kind,
            proxy_key: params.proxy_public_key,
            proxy_sc_address: params.proxy_sc_address.clone(),
            our_sc: derived.map(|(a, _)| a.to_hex()),
            keeper,
            db_tokens: 0,
            max_tokens: 0,
            accepted: 0,
            rejected: 0,
            last_error: None,
        }
    }

    /// Offers a payment message's voucher and counters. Empty vouchers only update the
    /// counters; invalid ones are counted and remembered, never kept.
    pub fn offer(
        &mut self,
        payment: &enums::proxy::SignedPayment,
        db_tokens: i64,
        max_tokens: i64,
    ) {
        self.db_tokens = self.db_tokens.max(db_tokens);
        self.max_tokens = self.max_tokens.max(max_tokens);
        let enums::proxy::SignedPayment::SignedPayment(signed) = payment else {
            return;
        };
        let result = match self.keeper.as_mut() {
            Some(keeper) => keeper.offer(&signed.data).map_err(|e| e.to_string()),
            None => Err("our contract address is unknown".to_owned()),
        };
        match result {
            Ok(Offer::Accepted { .. }) => self.accepted += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "invalid voucher from the proxy");
                self.rejected += 1;
                self.last_error = Some(e);
            }
        }
    }

    /// Tokens of the highest valid voucher kept (0 if none).
    pub fn voucher_tokens(&self) -> u64 {
        self.keeper.as_ref().map_or(0, VoucherKeeper::tokens)
    }

    /// Whether this proxy announced the same key and proxy contract as `params`.
    fn same_proxy(&self, params: &types::proxy::Params) -> bool {
        self.proxy_key == params.proxy_public_key
            && self.proxy_sc_address == params.proxy_sc_address
    }

    /// `/jsonstats` view.
    pub fn to_json(&self) -> Value {
        json!({
            "network": "devnet",
            "kind": format!("{:?}", self.kind),
            "proxy_public_key": hex::encode(self.proxy_key),
            "proxy_sc_address": self.proxy_sc_address,
            "our_sc_address": self.our_sc.as_ref().ok(),
            "our_sc_error": self.our_sc.as_ref().err(),
            "voucher_tokens": self.voucher_tokens(),
            "db_tokens": self.db_tokens,
            "max_tokens": self.max_tokens,
            "vouchers_accepted": self.accepted,
            "vouchers_rejected": self.rejected,
            "last_error": self.last_error,
        })
    }
}

fn derive_ours(
    kind: VoucherKind,
    owner: &str,
    params: &types::proxy::Params,
) -> Result<(tonlib_core::TonAddress, VerifyingKey), String> {
    let key = VerifyingKey::from_bytes(&params.proxy_public_key)
        .map_err(|_| "invalid proxy public key".to_owned())?;
    let owner = parse_address(owner)
        .map_err(|e| format!("our owner address: {e}"))?
        .address;
    let proxy_sc = parse_address(&params.proxy_sc_address)
        .map_err(|e| format!("proxy contract address: {e}"))?
        .address;
    let codes = devnet_placeholder_codes().map_err(|e| e.to_string())?;
    let root = RootConfig::devnet_default().params;
    let spec = match kind {
        VoucherKind::WorkerPayout => ContractSpec::Worker {
            owner: &owner,
            proxy_sc: &proxy_sc,
        },
        VoucherKind::ClientCharge | VoucherKind::ClientGrantRefund => ContractSpec::Client {
            owner: &owner,
            proxy_sc: &proxy_sc,
        },
    };
    let address = derive_contract_address(spec, &key, &root, &codes).map_err(|e| e.to_string())?;
    Ok((address, key))
}

/// The payments of every proxy we talk to, by proxy address (kept across reconnects so
/// the highest voucher survives).
#[derive(Debug, Default)]
pub struct PaymentsBook {
    by_proxy: Mutex<BTreeMap<String, ReceivedPayments>>,
}

impl PaymentsBook {
    /// A proxy at `address` finished `connectToProxy` with `params`: starts its entry, or
    /// restarts it when the proxy's key or contract changed.
    pub fn connected(
        &self,
        address: &str,
        kind: VoucherKind,
        owner: &str,
        params: &types::proxy::Params,
    ) {
        let mut map = self.lock();
        if map.get(address).is_some_and(|p| p.same_proxy(params)) {
            return;
        }
        map.insert(
            address.to_owned(),
            ReceivedPayments::new(kind, owner, params),
        );
    }

    /// Offers a payment from the proxy at `address` (ignored for an unknown proxy).
    pub fn offer(&self, address: &str, payment: &enums::proxy::SignedPayment, db: i64, max: i64) {
        if let Some(p) = self.lock().get_mut(address) {
            p.offer(payment, db, max);
        }
    }

    /// Tokens of the highest voucher kept from the proxy at `address`.
    pub fn voucher_tokens(&self, address: &str) -> u64 {
        self.lock()
            .get(address)
            .map_or(0, ReceivedPayments::voucher_tokens)
    }

    /// `/jsonstats` view: one entry per proxy address.
    pub fn to_json(&self) -> Value {
        let map = self.lock();
        Value::Object(
            map.iter()
                .map(|(address, p)| (address.clone(), p.to_json()))
                .collect(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ReceivedPayments>> {
        self.by_proxy.lock().unwrap_or_else(|e| e.into_inner())
    }
}
