//! The payments a client or worker receives from its proxies (runners.md §6.2–§6.3):
//! every voucher is verified against the proxy's public key and *our own* contract
//! address (derived here, not taken from the proxy), and the highest one is kept.
//!
//! A voucher or counter *lower* than what we already know (packets reordered, a voucher
//! signed before a newer commit) is ignored and logged; it never closes the connection
//! (the reference reconnects on it, runners.md §13.21).
//!
//! Our contract address is derived in a [`ContractContext`]: the ledger's (devnet
//! placeholder codes on the devnet, the root contract's codes on TON) or, without a
//! ledger, the fake-TON root config's (its codes and params, as reference peers derive). Submitting the kept vouchers is the client's and the
//! worker's money loop (`client::money`, `worker::payout`), not this module.

use std::collections::BTreeMap;
use std::sync::Mutex;

use cocoon_ledger::address::{parse_address, ContractSpec};
use cocoon_ledger::ledger::ContractContext;
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{Offer, Voucher, VoucherKeeper, VoucherKind};
use cocoon_wire::schema::{enums, types};
use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};
use tonlib_core::TonAddress;

/// What we know about the payments of one proxy.
#[derive(Debug)]
pub struct ReceivedPayments {
    kind: VoucherKind,
    proxy_key: [u8; 32],
    proxy_sc_address: String,
    /// Our contract at that proxy, or why it could not be derived.
    our_sc: Result<TonAddress, String>,
    keeper: Option<VoucherKeeper>,
    /// The proxy's latest `db_tokens` / `max_tokens` for us.
    db_tokens: u64,
    max_tokens: u64,
    accepted: u64,
    rejected: u64,
    /// Vouchers or counters below what we already knew (reordering), ignored.
    ignored_lower: u64,
    last_error: Option<String>,
}

/// A copy of what we know about one proxy's payments (for the money loops and stats).
#[derive(Debug, Clone)]
pub struct PaymentsView {
    /// The proxy's contract address, as the proxy announced it.
    pub proxy_sc_address: String,
    /// The proxy's public key.
    pub proxy_public_key: [u8; 32],
    /// Our contract at that proxy (derived by us), if derivable.
    pub our_sc: Option<TonAddress>,
    /// The highest valid voucher (its tokens are `committed_to_blockchain` for us).
    pub best: Option<Voucher>,
    /// The proxy's highest `tokens_committed_to_db` for us.
    pub db_tokens: u64,
    /// The proxy's highest `tokens_max` for us.
    pub max_tokens: u64,
}

impl PaymentsView {
    /// Tokens of the kept voucher (0 if none).
    pub fn voucher_tokens(&self) -> u64 {
        self.best.as_ref().map_or(0, |v| v.terms.tokens)
    }
}

/// nanoTON as a JSON number (a string in the unreachable case it exceeds `u64`).
pub fn nano_json(amount: cocoon_ledger::accounting::NanoTon) -> Value {
    u64::try_from(amount).map_or_else(|_| json!(amount.to_string()), |n| json!(n))
}

/// A wire counter as an unsigned value (negative ones are treated as 0).
fn counter(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl ReceivedPayments {
    /// Payments of vouchers of `kind` for our wallet `owner` from the proxy `params`;
    /// our contract address is derived under the root params `root`.
    pub fn new(
        kind: VoucherKind,
        owner: &str,
        params: &types::proxy::Params,
        ctx: &ContractContext,
    ) -> Self {
        let derived = derive_ours(kind, owner, params, ctx);
        let keeper = derived
            .as_ref()
            .ok()
            .map(|(address, key)| VoucherKeeper::new(kind, address.clone(), *key));
        ReceivedPayments {
            kind,
            proxy_key: params.proxy_public_key,
            proxy_sc_address: params.proxy_sc_address.clone(),
            our_sc: derived.map(|(a, _)| a),
            keeper,
            db_tokens: 0,
            max_tokens: 0,
            accepted: 0,
            rejected: 0,
            ignored_lower: 0,
            last_error: None,
        }
    }

    /// Offers a payment message's voucher and counters. Empty vouchers only update the
    /// counters; invalid ones are counted and remembered, never kept; lower ones (and
    /// lower counters) are ignored and logged.
    pub fn offer(
        &mut self,
        payment: &enums::proxy::SignedPayment,
        db_tokens: i64,
        max_tokens: i64,
    ) {
        let (db, max) = (counter(db_tokens), counter(max_tokens));
        if db < self.db_tokens || max < self.max_tokens {
            self.ignored_lower += 1;
            tracing::debug!(
                db,
                max,
                known_db = self.db_tokens,
                known_max = self.max_tokens,
                "proxy counters below what we know (reordered payment message); ignored"
            );
        }
        self.db_tokens = self.db_tokens.max(db);
        self.max_tokens = self.max_tokens.max(max);
        let enums::proxy::SignedPayment::SignedPayment(signed) = payment else {
            return;
        };
        let result = match self.keeper.as_mut() {
            Some(keeper) => keeper.offer(&signed.data).map_err(|e| e.to_string()),
            None => Err("our contract address is unknown".to_owned()),
        };
        match result {
            Ok(Offer::Accepted { .. }) => self.accepted += 1,
            Ok(Offer::NotHigher { offered, kept }) => {
                if offered < kept {
                    self.ignored_lower += 1;
                    tracing::info!(
                        offered,
                        kept,
                        "voucher below the one we keep (reordered payment message); ignored"
                    );
                }
            }
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

    /// How many lower vouchers or counters were ignored.
    pub fn ignored_lower(&self) -> u64 {
        self.ignored_lower
    }

    /// A copy for the money loops and stats.
    pub fn view(&self) -> PaymentsView {
        PaymentsView {
            proxy_sc_address: self.proxy_sc_address.clone(),
            proxy_public_key: self.proxy_key,
            our_sc: self.our_sc.as_ref().ok().cloned(),
            best: self.keeper.as_ref().and_then(|k| k.best().cloned()),
            db_tokens: self.db_tokens,
            max_tokens: self.max_tokens,
        }
    }

    /// Whether this proxy announced the same key and proxy contract as `params`.
    fn same_proxy(&self, params: &types::proxy::Params) -> bool {
        self.proxy_key == params.proxy_public_key
            && self.proxy_sc_address == params.proxy_sc_address
    }

    /// `/jsonstats` view.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": format!("{:?}", self.kind),
            "proxy_public_key": hex::encode(self.proxy_key),
            "proxy_sc_address": self.proxy_sc_address,
            "our_sc_address": self.our_sc.as_ref().ok().map(TonAddress::to_hex),
            "our_sc_error": self.our_sc.as_ref().err(),
            "voucher_tokens": self.voucher_tokens(),
            "db_tokens": self.db_tokens,
            "max_tokens": self.max_tokens,
            "vouchers_accepted": self.accepted,
            "vouchers_rejected": self.rejected,
            "ignored_lower": self.ignored_lower,
            "last_error": self.last_error,
        })
    }
}

/// Our contract of `kind` for wallet `owner` at the proxy contract `proxy_sc` signed by
/// `proxy_key`, in the contract context `ctx` (root params and codes).
pub fn derive_our_contract(
    kind: VoucherKind,
    owner: &TonAddress,
    proxy_sc: &TonAddress,
    proxy_key: &VerifyingKey,
    ctx: &ContractContext,
) -> Result<TonAddress, String> {
    let spec = match kind {
        VoucherKind::WorkerPayout | VoucherKind::WorkerLastPayout => {
            ContractSpec::Worker { owner, proxy_sc }
        }
        VoucherKind::ClientCharge | VoucherKind::ClientGrantRefund => {
            ContractSpec::Client { owner, proxy_sc }
        }
    };
    ctx.derive(spec, proxy_key).map_err(|e| e.to_string())
}

fn derive_ours(
    kind: VoucherKind,
    owner: &str,
    params: &types::proxy::Params,
    ctx: &ContractContext,
) -> Result<(TonAddress, VerifyingKey), String> {
    let key = VerifyingKey::from_bytes(&params.proxy_public_key)
        .map_err(|_| "invalid proxy public key".to_owned())?;
    let owner = parse_address(owner)
        .map_err(|e| format!("our owner address: {e}"))?
        .address;
    let proxy_sc = parse_address(&params.proxy_sc_address)
        .map_err(|e| format!("proxy contract address: {e}"))?
        .address;
    let address = derive_our_contract(kind, &owner, &proxy_sc, &key, ctx)?;
    Ok((address, key))
}

/// The payments of every proxy we talk to, by proxy address (kept across reconnects so
/// the highest voucher survives).
#[derive(Debug, Default)]
pub struct PaymentsBook {
    by_proxy: Mutex<BTreeMap<String, ReceivedPayments>>,
}

impl PaymentsBook {
    /// [`Self::connected_in`] the **devnet** default context (devnet root, codes and
    /// [`RootConfig::devnet_default`] params); for tests and tools.
    pub fn connected(
        &self,
        address: &str,
        kind: VoucherKind,
        owner: &str,
        params: &types::proxy::Params,
    ) {
        let root = RootConfig::devnet_default().params;
        match ContractContext::devnet(root) {
            Ok(ctx) => self.connected_in(address, kind, owner, params, &ctx),
            Err(e) => tracing::warn!(error = %e, "devnet contract codes unavailable"),
        }
    }

    /// A proxy at `address` finished `connectToProxy` with `params`: starts its entry, or
    /// restarts it when the proxy's key or contract changed. Our contract address is
    /// derived in `ctx` (the ledger's, or the fake-TON root config's).
    pub fn connected_in(
        &self,
        address: &str,
        kind: VoucherKind,
        owner: &str,
        params: &types::proxy::Params,
        ctx: &ContractContext,
    ) {
        let mut map = self.lock();
        if map.get(address).is_some_and(|p| p.same_proxy(params)) {
            return;
        }
        map.insert(
            address.to_owned(),
            ReceivedPayments::new(kind, owner, params, ctx),
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

    /// What we know of the proxy at `address`.
    pub fn view(&self, address: &str) -> Option<PaymentsView> {
        self.lock().get(address).map(ReceivedPayments::view)
    }

    /// What we know of every proxy, by proxy network address.
    pub fn views(&self) -> Vec<(String, PaymentsView)> {
        self.lock()
            .iter()
            .map(|(address, p)| (address.clone(), p.view()))
            .collect()
    }

    /// How many lower vouchers or counters from the proxy at `address` were ignored.
    pub fn ignored_lower(&self, address: &str) -> u64 {
        self.lock()
            .get(address)
            .map_or(0, ReceivedPayments::ignored_lower)
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

/// Whether a payment contract deployed under `contract` params_version is outdated under the
/// root's `root` one (its proxy is closing it, §8); 0 is a state stored before versions were
/// recorded (older devnet files), taken as current.
pub fn contract_outdated(contract: u32, root: u32) -> bool {
    contract != 0 && contract < root
}

/// Refuses to deploy our contract at a proxy that announces another address than the one
/// we derive (`announced` empty or unparsable: nothing to compare). The usual cause is a
/// root `params_version` change one side has not read yet: deploying then would create a
/// contract the proxy never pays from (or an outdated one). The caller retries later.
pub fn check_announced_contract(
    derived: &tonlib_core::TonAddress,
    announced: &str,
    ctx: &cocoon_ledger::ledger::ContractContext,
) -> Result<(), String> {
    let Ok(announced_address) = cocoon_ledger::address::parse_address(announced) else {
        return Ok(());
    };
    if announced_address.address == *derived {
        return Ok(());
    }
    Err(format!(
        "the proxy announces our contract as {announced} but the root params we hold \
         (params_version {}) give {}: one side has not read the latest root config yet; \
         not deploying until they agree",
        ctx.params.params_version,
        derived.to_hex()
    ))
}

#[cfg(test)]
#[path = "vouchers_tests.rs"]
mod tests;
