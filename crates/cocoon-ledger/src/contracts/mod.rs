//! The **contract model**: the five COCOON payment contracts (root config aside) as pure
//! functions, rule for rule after the real FunC contracts (`docs/reference` contracts.md
//! §3): per contract a state and one handler per inbound message that either refuses it
//! with the contract's exit code (nothing changes, the message bounces) or returns the new
//! state and the messages the contract emits, with their payloads.
//!
//! Money follows the real contracts, gas excepted:
//! * a client contract holds **no** money: its `balance` is an accounting figure, and its
//!   `stake` is a floor **inside** that balance (not extra money) that the owner cannot
//!   withdraw while Active;
//! * the proxy contract holds the money ([`ProxyContractState::funds`]): every client
//!   top-up and stake increase, less every refund, worker payout and commission payout;
//! * a charge only lowers the client's balance (beyond it: balance 0, the rest forgiven);
//!   the proxy's commission (`balance` on chain, [`ProxyContractState::commission`]) is
//!   booked when a worker payout arrives (`proxy_part`), never at charge time;
//! * a payout the proxy's money cannot cover fails there (exit 5) — but the client or
//!   worker contract has already committed its change (a bounce is ignored);
//! * closing the proxy pays everything it holds (stake and unrefunded client money) to its
//!   owner.
//!
//! Signatures, voucher shapes and sender addresses of notifications are checked by the
//! caller (the devnet layer verifies vouchers with [`crate::voucher`]); gas, message values
//! and the storage reserve are not modelled.

use crate::accounting::NanoTon;
use crate::ledger::{ClientContractState, ContractStatus, ProxyContractState};

pub mod client;
pub mod proxy;
pub mod worker;

#[cfg(test)]
mod tests;

/// Why a contract refuses a message: its exit code (contracts.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Exit {
    /// 5: a reserve went negative (the proxy cannot cover a payout).
    #[error("exit 5: the contract cannot cover {needed} (holds {held})")]
    CannotCover {
        /// What the payout needs.
        needed: NanoTon,
        /// What the contract holds.
        held: NanoTon,
    },
    /// 1000: the token total does not advance.
    #[error("exit 1000: {offered} tokens do not advance the settled {settled}")]
    TokensNotHigher {
        /// Voucher total.
        offered: u64,
        /// Already settled.
        settled: u64,
    },
    /// 1001: nothing above the stake to withdraw.
    #[error("exit 1001: nothing above the stake")]
    NothingAboveStake,
    /// 1003: a new client stake not above the current one.
    #[error("exit 1003: the new stake is not above the current one")]
    StakeNotHigher,
    /// 1006: not allowed in the contract's state.
    #[error("exit 1006: not allowed while {0:?}")]
    WrongState(ContractStatus),
    /// 1009 / 1010: the sender is not the owner.
    #[error("exit {0}: the sender is not the owner")]
    NotOwner(u32),
    /// 1011: a close delay has not elapsed.
    #[error("exit 1011: locked until {unlock_ts} (now {now})")]
    Locked {
        /// Unlock time.
        unlock_ts: u64,
        /// Contract time.
        now: u64,
    },
}

impl Exit {
    /// The TVM exit code.
    pub fn code(&self) -> u32 {
        match self {
            Exit::CannotCover { .. } => 5,
            Exit::TokensNotHigher { .. } => 1000,
            Exit::NothingAboveStake => 1001,
            Exit::StakeNotHigher => 1003,
            Exit::WrongState(_) => 1006,
            Exit::NotOwner(code) => *code,
            Exit::Locked { .. } => 1011,
        }
    }
}

/// A handler's result: refused with an exit code, or the new state and what it emits.
pub type Handled<S> = Result<(S, Vec<Emitted>), Exit>;

/// The client state a `client_proxy_request` carries (after the client's update).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientReport {
    /// Lifecycle after the update.
    pub status: ContractStatus,
    /// Balance after the update (the stake counted inside it).
    pub balance: NanoTon,
    /// Stake figure.
    pub stake: NanoTon,
    /// Tokens charged so far.
    pub tokens_used: u64,
    /// Secret hash.
    pub secret_hash: [u8; 32],
}

impl ClientReport {
    /// The report of `client`'s current state.
    pub fn of(client: &ClientContractState) -> ClientReport {
        ClientReport {
            status: client.status,
            balance: client.balance,
            stake: client.stake,
            tokens_used: client.tokens_used,
            secret_hash: client.secret_hash,
        }
    }
}

/// The payload of a `client_proxy_request` (none: INFO, never executed by the proxy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientPayload {
    /// `owner_client_register`: the nonce (1 nanoTON, never executed by the proxy).
    Register {
        /// Nonce.
        nonce: u64,
    },
    /// A top-up of `amount` the proxy keeps (or returns when not Active).
    TopUp {
        /// Amount.
        amount: NanoTon,
    },
    /// REFUND(G): the proxy pays `amount` to the client owner, uncapped.
    RefundGranted {
        /// Amount.
        amount: NanoTon,
    },
    /// REFUND(F): the proxy pays `min(amount, stake)` to the client owner.
    RefundForce {
        /// Amount.
        amount: NanoTon,
    },
}

/// The payload of a `worker_proxy_request` payout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerPayout {
    /// Paid to the worker owner: token delta × worker fee.
    pub worker_part: NanoTon,
    /// Booked as the proxy's commission: token delta × (price − worker fee).
    pub proxy_part: NanoTon,
}

/// A message a contract emits (excesses are not modelled: they carry gas only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emitted {
    /// `client_proxy_request` from a client contract to its proxy contract.
    ClientNotice {
        /// The client contract's owner (hex form; the payout goes there).
        owner: String,
        /// The proxy contract (hex form).
        proxy_sc: String,
        /// The client's state after the update.
        report: ClientReport,
        /// The payload, if any.
        payload: Option<ClientPayload>,
    },
    /// `worker_proxy_request` from a worker contract to its proxy contract.
    WorkerNotice {
        /// The worker contract's owner (hex form; the payout goes there).
        owner: String,
        /// The proxy contract (hex form).
        proxy_sc: String,
        /// The worker's status after the update.
        status: ContractStatus,
        /// The worker's new token total.
        tokens: u64,
        /// The payout, if any (none: a register notice, never executed by the proxy).
        payout: Option<WorkerPayout>,
    },
    /// A payout (`0xc59a7cd3`) from the proxy contract to a wallet (hex form).
    Payout {
        /// Receiver.
        to: String,
        /// Amount.
        amount: NanoTon,
    },
}

/// Refuses anything but `wanted`.
fn require(status: ContractStatus, wanted: ContractStatus) -> Result<(), Exit> {
    if status == wanted {
        Ok(())
    } else {
        Err(Exit::WrongState(status))
    }
}

/// Refuses a Closed contract.
fn not_closed(status: ContractStatus) -> Result<(), Exit> {
    if status == ContractStatus::Closed {
        Err(Exit::WrongState(status))
    } else {
        Ok(())
    }
}

/// Takes `amount` out of the proxy's money, or exit 5 (its reserve would go negative).
fn spend(proxy: &mut ProxyContractState, amount: NanoTon) -> Result<(), Exit> {
    if amount > proxy.funds {
        return Err(Exit::CannotCover {
            needed: amount,
            held: proxy.funds,
        });
    }
    proxy.funds -= amount;
    Ok(())
}
