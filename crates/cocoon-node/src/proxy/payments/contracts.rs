//! The contract context vouchers are addressed in: the proxy key, the proxy contract address
//! and the client / worker contract addresses derived from it, all in the proxy's
//! [`ContractContext`] (root address, root params and contract codes).

use std::collections::BTreeMap;
use std::sync::Mutex;

use cocoon_ledger::address::{parse_address, ContractSpec};
use cocoon_ledger::ledger::ContractContext;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use ed25519_dalek::SigningKey;
use tonlib_core::TonAddress;

use super::{voucher_kind, Side};

/// Most derived contract addresses kept (the cache starts over beyond it).
const MAX_DERIVED: usize = 1 << 16;

/// Keys and addresses of one proxy's payment contracts.
#[derive(Debug)]
pub(super) struct Contracts {
    key: SigningKey,
    ctx: ContractContext,
    /// Client / worker contract addresses already derived, by side and owner: deriving one
    /// builds and hashes the contract cells, and vouchers, reservations, the books and the
    /// stats all ask for the same few owners again and again.
    derived: Mutex<BTreeMap<(Side, String), TonAddress>>,
    pub(super) proxy_sc: TonAddress,
    /// The proxy's wallet (devnet: the owner address), written as the (unsigned)
    /// `excess_to` of every voucher.
    pub(super) wallet: TonAddress,
}

impl Contracts {
    pub(super) fn new(
        key: SigningKey,
        owner_address: &str,
        ctx: ContractContext,
    ) -> Result<Self, String> {
        let owner = parse_address(owner_address)
            .map_err(|e| format!("proxy owner address: {e}"))?
            .address;
        let proxy_sc = ctx
            .derive(
                ContractSpec::Proxy {
                    owner: &owner,
                    root: &ctx.root,
                },
                &key.verifying_key(),
            )
            .map_err(|e| e.to_string())?;
        Ok(Contracts {
            key,
            ctx,
            derived: Mutex::new(BTreeMap::new()),
            proxy_sc,
            wallet: owner,
        })
    }

    /// The client / worker contract of the wallet `owner` at our proxy contract.
    pub(super) fn party_address(&self, side: Side, owner: &str) -> Result<TonAddress, String> {
        let mut derived = self.derived.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(address) = derived.get(&(side, owner.to_owned())) {
            return Ok(address.clone());
        }
        let address = self.derive_party(side, owner)?;
        if derived.len() >= MAX_DERIVED {
            // Any peer may name any owner: keep the cache bounded.
            derived.clear();
        }
        derived.insert((side, owner.to_owned()), address.clone());
        Ok(address)
    }

    fn derive_party(&self, side: Side, owner: &str) -> Result<TonAddress, String> {
        let owner = parse_address(owner).map_err(|e| e.to_string())?.address;
        let spec = match side {
            Side::Client => ContractSpec::Client {
                owner: &owner,
                proxy_sc: &self.proxy_sc,
            },
            Side::Worker => ContractSpec::Worker {
                owner: &owner,
                proxy_sc: &self.proxy_sc,
            },
        };
        self.ctx
            .derive(spec, &self.key.verifying_key())
            .map_err(|e| e.to_string())
    }

    /// A proxy-signed message of `kind` for `tokens` addressed to the contract `target`
    /// (the close flow of an old contract names its stored contract addresses).
    pub(super) fn sign_for(
        &self,
        kind: VoucherKind,
        tokens: u64,
        target: TonAddress,
    ) -> Result<Vec<u8>, String> {
        let terms = VoucherTerms {
            kind,
            qid: rand::random(),
            tokens,
            target,
        };
        voucher::sign(&self.key, terms, &self.wallet)
            .map(|v| v.boc)
            .map_err(|e| e.to_string())
    }

    /// A voucher BoC for `tokens` addressed to `owner`'s contract on `side`.
    pub(super) fn sign(&self, side: Side, owner: &str, tokens: u64) -> Result<Vec<u8>, String> {
        let terms = VoucherTerms {
            kind: voucher_kind(side),
            qid: rand::random(),
            tokens,
            target: self.party_address(side, owner)?,
        };
        voucher::sign(&self.key, terms, &self.wallet)
            .map(|v| v.boc)
            .map_err(|e| e.to_string())
    }
}
