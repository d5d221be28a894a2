//! The [`Ledger`] abstraction: the on-chain operations the client, proxy and worker nodes
//! need, and the state they read back.
//!
//! The trait is **synchronous** on purpose. On TON every operation is "submit a message,
//! later observe its effect": the reference runners send through their wallet and then poll
//! account state. A TON backend therefore queues a message and returns at once, and serves
//! reads from a state snapshot that a background task refreshes; nothing in the trait needs
//! to block on the network, and a sync trait stays object-safe (`Arc<dyn Ledger>`) without
//! boxing futures. The devnet backend ([`devnet::DevnetLedger`]) applies each operation
//! immediately, which is the "confirmed at once" behaviour of the reference fake-TON mode.
//!
//! Owner operations take the `sender` wallet and fail unless it owns the contract; voucher
//! operations (charge, payout) are authorised by the proxy's signature instead.

pub mod devnet;

use ed25519_dalek::VerifyingKey;
use tonlib_core::TonAddress;

use crate::accounting::NanoTon;
use crate::address::{derive_contract_address, devnet_placeholder_codes, ContractSpec};
use crate::boc::BocError;
use crate::root_config::{ContractCodes, RootConfig, RootParams};
use crate::root_keys::SignedKeyRegistration;
use crate::voucher::VoucherError;

pub use devnet::DevnetLedger;

/// What a payment contract's address is derived from besides its parties (runners.md §6.9):
/// the root contract, the root params written into the contract's init data, and the
/// contract codes the root publishes. Every node must derive with the same context as the
/// ledger (and as reference peers), or vouchers are addressed to contracts nobody has.
#[derive(Clone, Debug)]
pub struct ContractContext {
    /// The root contract (the proxy contract's init data names it).
    pub root: TonAddress,
    /// Root params as stored in the contracts' init data.
    pub params: RootParams,
    /// Proxy, worker and client contract codes.
    pub codes: ContractCodes,
}

impl ContractContext {
    /// The **devnet** context: the devnet root address, `params`, and the devnet
    /// placeholder codes.
    pub fn devnet(params: RootParams) -> Result<ContractContext, BocError> {
        Ok(ContractContext {
            root: devnet::devnet_root_address(),
            params,
            codes: devnet_placeholder_codes()?,
        })
    }

    /// The address of the contract `spec` whose proxy signs with `proxy_key`.
    pub fn derive(
        &self,
        spec: ContractSpec<'_>,
        proxy_key: &VerifyingKey,
    ) -> Result<TonAddress, BocError> {
        derive_contract_address(spec, proxy_key, &self.params, &self.codes)
    }
}

/// Lifecycle of a payment contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ContractStatus {
    /// Open for business.
    Active,
    /// Close requested; funds locked until `unlock_ts`.
    Closing,
    /// Closed; funds returned.
    Closed,
}

/// A `save_state(seqno, session_hash)` the proxy sent to its contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedState {
    /// Proxy DB seqno.
    pub seqno: u32,
    /// Proxy session hash.
    pub session_hash: [u8; 32],
}

/// A client's `owner_client_register(nonce)` as the proxy contract received it (the client
/// contract forwards it as `client_proxy_request` with a `register` payload): the proof of
/// wallet ownership behind long authentication (runners.md §3.2 step 6).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientRegistration {
    /// The nonce the proxy handed out in `client.proxyConnectionAuthLong`.
    pub nonce: u64,
    /// The client contract's owner wallet (hex form).
    pub owner: String,
    /// The client contract the registration came through (hex form).
    pub client_sc: String,
}

/// How many recent registrations a proxy contract's state keeps (oldest dropped first).
pub const REGISTRATIONS_KEPT: usize = 256;

/// Proxy contract state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxyContractState {
    /// Owner wallet (hex form).
    pub owner: String,
    /// Proxy signing key baked into the contracts.
    pub public_key: [u8; 32],
    /// Lifecycle.
    pub status: ContractStatus,
    /// Stake: the figure that caps forced client refunds (`ext_proxy_increase_stake` is the
    /// only way it grows; its money is part of [`Self::funds`]).
    pub stake: NanoTon,
    /// Commission booked (the contract's `balance`): the proxy's part of every worker payout
    /// that arrived, ready for `proxy_payout`; paid out of [`Self::funds`].
    pub commission: NanoTon,
    /// The money the contract holds, gas excepted: client top-ups and stake increases, less
    /// refunds, worker payouts and commission payouts (on TON: the account's TON balance,
    /// gas remainders included; not in the data cell, so 0 where a state is only parsed from
    /// one). Close-complete pays all of it to the owner.
    #[serde(default)]
    pub funds: NanoTon,
    /// When a closing contract may complete.
    pub unlock_ts: u64,
    /// Recent `save_state` messages, oldest first.
    pub saved_states: Vec<SavedState>,
    /// Recent client registrations, oldest first (at most [`REGISTRATIONS_KEPT`]).
    #[serde(default)]
    pub registrations: Vec<ClientRegistration>,
    /// Root `params_version` written into the contract's init data (a lower one than the
    /// root's means the contract is outdated and is to be closed). 0 in states stored
    /// before this field existed.
    #[serde(default)]
    pub params_version: u32,
}

impl ProxyContractState {
    /// The registration carrying `nonce` from `owner`'s client contract, if it arrived.
    pub fn registration(&self, nonce: u64, owner: &TonAddress) -> Option<&ClientRegistration> {
        let owner = owner.to_hex();
        self.registrations
            .iter()
            .rev()
            .find(|r| r.nonce == nonce && r.owner == owner)
    }
}

/// Client contract state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientContractState {
    /// Owner wallet (hex form).
    pub owner: String,
    /// Proxy contract (hex form).
    pub proxy_sc: String,
    /// Lifecycle.
    pub status: ContractStatus,
    /// Prepaid nanoTON not yet charged (an accounting figure: the money is in the proxy
    /// contract). The stake is counted inside it.
    pub balance: NanoTon,
    /// Stake: the part of `balance` the owner cannot withdraw while Active (not extra
    /// money; starts at `min_client_stake`, may exceed the balance).
    pub stake: NanoTon,
    /// Tokens charged so far.
    pub tokens_used: u64,
    /// When a closing contract may be withdrawn.
    pub unlock_ts: u64,
    /// SHA-256 of the client's secret.
    pub secret_hash: [u8; 32],
    /// Root `params_version` written into the contract's init data (a lower one than the
    /// root's means the contract is outdated and is to be closed). 0 in states stored
    /// before this field existed.
    #[serde(default)]
    pub params_version: u32,
}

/// Worker contract state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkerContractState {
    /// Owner wallet (hex form).
    pub owner: String,
    /// Proxy contract (hex form).
    pub proxy_sc: String,
    /// Lifecycle.
    pub status: ContractStatus,
    /// Tokens paid out so far.
    pub tokens: u64,
    /// Root `params_version` written into the contract's init data (a lower one than the
    /// root's means the contract is outdated and is to be closed). 0 in states stored
    /// before this field existed.
    #[serde(default)]
    pub params_version: u32,
    /// Payouts whose notification the proxy contract bounced (it could not pay, contracts.md
    /// §3.3.1 exit 5): their vouchers are used up — the tokens count as paid — but the money
    /// never reached the owner. Observed by the ledger, not stored in the contract.
    #[serde(default)]
    pub payouts_bounced: u32,
}

/// Effect of an accepted voucher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoucherSettlement {
    /// Tokens newly settled (voucher total minus the previous total).
    pub tokens: u64,
    /// nanoTON moved.
    pub amount: NanoTon,
}

/// Ledger operation error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// No such contract.
    #[error("unknown contract {0}")]
    UnknownContract(String),
    /// Contract already deployed.
    #[error("contract {0} already exists")]
    AlreadyExists(String),
    /// Sender does not own the contract.
    #[error("sender is not the owner of {0}")]
    NotOwner(String),
    /// Not enough money.
    #[error("insufficient funds: need {needed}, have {available}")]
    InsufficientFunds {
        /// Required.
        needed: NanoTon,
        /// Available.
        available: NanoTon,
    },
    /// Voucher failed verification.
    #[error("voucher rejected: {0}")]
    Voucher(#[from] VoucherError),
    /// Voucher total not above what was already settled.
    #[error("voucher for {offered} tokens is not above the settled {settled}")]
    VoucherNotHigher {
        /// Voucher total.
        offered: u64,
        /// Already settled.
        settled: u64,
    },
    /// Operation not allowed in the contract's state.
    #[error("wrong contract state: {0}")]
    WrongState(&'static str),
    /// A close delay has not elapsed yet.
    #[error("locked until {unlock_ts} (now {now})")]
    Locked {
        /// Unlock time.
        unlock_ts: u64,
        /// Ledger time.
        now: u64,
    },
    /// Invalid argument (stake below minimum, bad config, …).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Storage failure.
    #[error("ledger storage: {0}")]
    Storage(String),
}

/// What the nodes need from a ledger (TON or the devnet simulation).
pub trait Ledger: Send + Sync {
    /// Which network this is, for logs and stats: `"devnet"` (simulated), `"ton"`,
    /// `"ton-testnet"`.
    fn network(&self) -> &'static str;
    /// How a user puts `nanoton` into `wallet` on this network (shown in errors).
    fn funding_hint(&self, wallet: &str, nanoton: NanoTon) -> String;
    /// Ledger time, unix seconds.
    fn now(&self) -> u64;
    /// Current root configuration.
    fn root_config(&self) -> Result<RootConfig, LedgerError>;
    /// Root address, params and contract codes the ledger's contracts are derived with.
    fn contract_context(&self) -> Result<ContractContext, LedgerError>;
    /// Balance of a plain wallet.
    fn wallet_balance(&self, wallet: &TonAddress) -> Result<NanoTon, LedgerError>;

    /// `root_add_public_key_signed` from `sender`'s wallet (the key manager's cocoon wallet):
    /// registers a request-encryption public key on the root (delta §3.3). The root keeps
    /// it in [`RootConfig::registered_public_keys`] once the message is processed. Ledgers
    /// that cannot send it say so.
    fn root_add_public_key(
        &self,
        sender: &TonAddress,
        signed: &SignedKeyRegistration,
    ) -> Result<(), LedgerError> {
        let _ = (sender, signed);
        Err(LedgerError::WrongState(
            "this ledger cannot register key manager keys",
        ))
    }

    /// Deploys the proxy contract of `owner`, locking `stake` from the owner's wallet.
    fn proxy_deploy(
        &self,
        owner: &TonAddress,
        proxy_key: &VerifyingKey,
        stake: NanoTon,
    ) -> Result<TonAddress, LedgerError>;
    /// Proxy contract state.
    fn proxy_state(&self, proxy_sc: &TonAddress) -> Result<ProxyContractState, LedgerError>;
    /// Records `save_state(seqno, session_hash)`; seqnos must increase.
    fn proxy_save_state(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
        saved: SavedState,
    ) -> Result<(), LedgerError>;
    /// `ext_proxy_increase_stake` from `sender`'s wallet: the contract keeps `amount` as
    /// stake (anyone may send it). Ledgers that cannot send it say so.
    fn proxy_increase_stake(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError> {
        let _ = (sender, proxy_sc, amount);
        Err(LedgerError::WrongState(
            "this ledger cannot raise a proxy contract's stake",
        ))
    }
    /// Pays the accrued commission to the owner; returns the amount.
    fn proxy_payout(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError>;
    /// Starts closing; returns the unlock time (`now + proxy_delay_before_close`).
    fn proxy_request_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<u64, LedgerError>;
    /// After the delay: pays everything the contract holds (stake, commission, client money
    /// not refunded) to the owner; returns the amount.
    fn proxy_complete_close(
        &self,
        sender: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError>;

    /// Deploys the client contract of wallet `owner` at `proxy_sc`.
    fn client_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError>;
    /// Client contract state.
    fn client_state(&self, client_sc: &TonAddress) -> Result<ClientContractState, LedgerError>;
    /// `ext_client_top_up` (anyone may send it): moves `amount` from `sender`'s wallet to the
    /// proxy contract and adds it to the client contract's balance (a proxy that is not
    /// Active returns it to the client owner, the balance counts it anyway).
    fn client_top_up(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError>;
    /// Raises the client contract's stake figure by `amount` (`owner_client_increase_stake`
    /// to `stake + amount`): no money moves, the stake is a floor inside the balance.
    fn client_increase_stake(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        amount: NanoTon,
    ) -> Result<(), LedgerError>;
    /// Sets the secret hash.
    fn client_change_secret_hash(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        hash: [u8; 32],
    ) -> Result<(), LedgerError>;
    /// `owner_client_register(nonce)`: the owner proves it controls the client contract's
    /// wallet; the contract forwards the nonce to its proxy contract, where it shows up in
    /// [`ProxyContractState::registrations`] (long authentication, runners.md §3.2).
    fn client_register(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
        nonce: u64,
    ) -> Result<(), LedgerError>;
    /// Applies a proxy-signed client voucher: charges `(tokens − tokens_used) × price`.
    fn client_charge(
        &self,
        client_sc: &TonAddress,
        voucher: &[u8],
    ) -> Result<VoucherSettlement, LedgerError>;
    /// Applies a proxy-signed final refund (`ext_client_grant_refund_signed`, total
    /// `tokens`): charges `(tokens − tokens_used) × price` like a charge (nothing when
    /// `tokens = tokens_used`; refused below it; beyond the balance: balance 0, the rest
    /// forgiven), then closes the contract and has the proxy contract pay the whole balance
    /// left (the stake is inside it) to its owner, uncapped.
    /// The price is the one of the contract's own params. Refused on a closed contract.
    fn client_grant_refund(
        &self,
        client_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError>;
    /// `owner_client_request_refund`. On an Active contract: starts the close and returns
    /// the unlock time (`now + client_delay_before_close`). On a Closing contract, strictly
    /// after that time: closes it and returns what is left to its owner (on TON a forced
    /// refund through the proxy contract, capped by the proxy's stake); returns the unlock
    /// time it waited for. Refused on a Closed contract, and while still locked.
    fn client_request_refund(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<u64, LedgerError>;
    /// `owner_client_withdraw`: only while Active, returns the money above the stake to the
    /// owner; the contract stays Active (a Closing contract refuses it: close it with a
    /// second [`Ledger::client_request_refund`]).
    fn client_withdraw(
        &self,
        sender: &TonAddress,
        client_sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError>;

    /// Deploys the worker contract of `owner` at `proxy_sc`.
    fn worker_deploy(
        &self,
        owner: &TonAddress,
        proxy_sc: &TonAddress,
    ) -> Result<TonAddress, LedgerError>;
    /// Worker contract state.
    fn worker_state(&self, worker_sc: &TonAddress) -> Result<WorkerContractState, LedgerError>;
    /// Applies a proxy-signed worker voucher: pays `(tokens − paid) × worker_fee` to the owner.
    fn worker_payout(
        &self,
        worker_sc: &TonAddress,
        voucher: &[u8],
    ) -> Result<VoucherSettlement, LedgerError>;
    /// Applies a proxy-signed last payout (`ext_worker_last_payout_request_signed`, total
    /// `tokens`): pays `(tokens − paid) × worker_fee` to the owner like a payout (nothing
    /// when `tokens ≤ paid`), then closes the worker contract. Refused on a closed contract.
    fn worker_last_payout(
        &self,
        worker_sc: &TonAddress,
        signed: &[u8],
    ) -> Result<VoucherSettlement, LedgerError>;
}
