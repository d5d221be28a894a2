//! How the devnet runs the contract model ([`crate::contracts`]): a handler's new state is
//! committed, then what it emitted is delivered — notices to their proxy contract (whose
//! refusal is a bounce the sender ignores: the sender's change stays, nothing is paid),
//! payouts to wallets. Everything emitted is appended to the state's outbox.

use tonlib_core::TonAddress;

use super::{key, DevnetState};
use crate::accounting::NanoTon;
use crate::contracts::{self, ClientPayload, Emitted, Exit};
use crate::ledger::{ContractStatus, LedgerError};

/// Which contract refused (for the error text).
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Client,
    Proxy,
    Worker,
}

fn wrong_state(kind: Kind, status: ContractStatus) -> &'static str {
    use ContractStatus::{Active, Closed, Closing};
    match (kind, status) {
        (Kind::Client, Active) => "client contract is active",
        (Kind::Client, Closing) => "client contract is closing",
        (Kind::Client, Closed) => "client contract is closed",
        (Kind::Proxy, Active) => "proxy contract is active",
        (Kind::Proxy, Closing) => "proxy contract is closing",
        (Kind::Proxy, Closed) => "proxy contract is closed",
        (Kind::Worker, Active | Closing) => "worker contract is open",
        (Kind::Worker, Closed) => "worker contract is closed",
    }
}

/// The ledger error for a `kind` contract's refusal of a message to `sc`.
pub(super) fn exit_error(exit: Exit, sc: &TonAddress, kind: Kind) -> LedgerError {
    match exit {
        Exit::CannotCover { needed, held } => LedgerError::InsufficientFunds {
            needed,
            available: held,
        },
        Exit::TokensNotHigher { offered, settled } => {
            LedgerError::VoucherNotHigher { offered, settled }
        }
        Exit::NothingAboveStake => LedgerError::WrongState("nothing above the stake (exit 1001)"),
        Exit::StakeNotHigher => {
            LedgerError::Invalid("the new stake is not above the current one (exit 1003)".into())
        }
        Exit::WrongState(status) => LedgerError::WrongState(wrong_state(kind, status)),
        Exit::NotOwner(_) => LedgerError::NotOwner(key(sc)),
        Exit::Locked { unlock_ts, now } => LedgerError::Locked { unlock_ts, now },
    }
}

/// What a proxy contract did with a notice: `None` when it was not executed (no payload,
/// REGISTER), else its exit (`Ok` = accepted).
fn to_proxy(s: &mut DevnetState, notice: &Emitted) -> Option<Result<Vec<Emitted>, Exit>> {
    let (proxy_sc, handled) = match notice {
        Emitted::ClientNotice {
            owner,
            proxy_sc,
            payload: Some(payload),
            ..
        } if !matches!(payload, ClientPayload::Register { .. }) => {
            let proxy = s.proxies.get(proxy_sc)?;
            (
                proxy_sc,
                contracts::proxy::client_notice(proxy, owner, payload),
            )
        }
        Emitted::WorkerNotice {
            owner,
            proxy_sc,
            payout: Some(payout),
            ..
        } => {
            let proxy = s.proxies.get(proxy_sc)?;
            (
                proxy_sc,
                contracts::proxy::worker_notice(proxy, owner, payout),
            )
        }
        _ => return None,
    };
    Some(handled.map(|(next, out)| {
        if let Some(p) = s.proxies.get_mut(proxy_sc) {
            *p = next;
        }
        out
    }))
}

/// What a delivery did.
#[derive(Clone, Copy, Default)]
pub(super) struct Delivered {
    /// Total paid out to wallets.
    pub paid: NanoTon,
    /// Notices the proxy contract refused (bounced back, ignored by their sender).
    pub refused: u32,
}

/// Delivers `emitted` (and what it causes), appending every message to the outbox.
/// Returns the total paid out to wallets.
pub(super) fn deliver(s: &mut DevnetState, emitted: Vec<Emitted>) -> NanoTon {
    deliver_counted(s, emitted).paid
}

/// [`deliver`], also counting the notices the proxy contract refused.
pub(super) fn deliver_counted(s: &mut DevnetState, emitted: Vec<Emitted>) -> Delivered {
    let mut done = Delivered::default();
    let mut queue: std::collections::VecDeque<Emitted> = emitted.into();
    while let Some(msg) = queue.pop_front() {
        match &msg {
            Emitted::Payout { to, amount } => {
                *s.wallets.entry(to.clone()).or_insert(0) += amount;
                done.paid += amount;
            }
            notice => match to_proxy(s, notice) {
                Some(Ok(out)) => queue.extend(out),
                Some(Err(exit)) => {
                    done.refused += 1;
                    tracing::warn!(?notice, %exit, "devnet: the proxy contract refused a notice; the sender ignores the bounce");
                }
                None => {}
            },
        }
        s.outbox.push(msg);
    }
    done
}
