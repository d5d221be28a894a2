//! The worker contract (contracts.md §3.2): a token counter. A payout voucher advances it
//! and asks the proxy contract to pay `Δ × worker_fee` to the owner and book
//! `Δ × (price − worker_fee)` as its commission; the counter advances even when the proxy
//! then cannot pay (the voucher is used up).

use super::{Emitted, Exit, Handled, WorkerPayout};
use crate::accounting::Prices;
use crate::ledger::{ContractStatus, WorkerContractState};

/// A new worker contract as its init data has it.
pub fn deployed(owner: String, proxy_sc: String, params_version: u32) -> WorkerContractState {
    WorkerContractState {
        owner,
        proxy_sc,
        status: ContractStatus::Active,
        tokens: 0,
        params_version,
        payouts_bounced: 0,
    }
}

fn open(w: &WorkerContractState) -> Result<(), Exit> {
    // A Closed worker answers 1006 to everything (cocoon_worker.fc:61).
    if w.status == ContractStatus::Closed {
        return Err(Exit::WrongState(w.status));
    }
    Ok(())
}

/// `owner_worker_register`: storage unchanged; a payload-less notice.
pub fn register(w: &WorkerContractState, sender: &str) -> Handled<WorkerContractState> {
    open(w)?;
    if w.owner != sender {
        return Err(Exit::NotOwner(1010));
    }
    let out = vec![Emitted::WorkerNotice {
        owner: w.owner.clone(),
        proxy_sc: w.proxy_sc.clone(),
        status: w.status,
        tokens: w.tokens,
        payout: None,
    }];
    Ok((w.clone(), out))
}

/// `ext_worker_payout_request_signed` (`last = false`: tokens strictly up) and
/// `ext_worker_last_payout_request_signed` (`last = true`: tokens may stay equal, then
/// Closed); the signature is checked by the caller.
pub fn payout(
    w: &WorkerContractState,
    tokens: u64,
    last: bool,
    prices: &Prices,
) -> Handled<WorkerContractState> {
    open(w)?;
    if tokens < w.tokens || (!last && tokens == w.tokens) {
        return Err(Exit::TokensNotHigher {
            offered: tokens,
            settled: w.tokens,
        });
    }
    let delta = tokens - w.tokens;
    let mut w = w.clone();
    w.tokens = tokens;
    if last {
        w.status = ContractStatus::Closed;
    }
    let out = vec![Emitted::WorkerNotice {
        owner: w.owner.clone(),
        proxy_sc: w.proxy_sc.clone(),
        status: w.status,
        tokens,
        payout: Some(WorkerPayout {
            worker_part: prices.worker_payout(delta),
            proxy_part: prices.proxy_commission(delta),
        }),
    }];
    Ok((w, out))
}
