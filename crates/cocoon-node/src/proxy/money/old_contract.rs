//! The close of an old proxy contract (runners.md §8, the reference's `OldProxyContract`):
//! `NotStarted` → signed close request → `StartedClients` (one grant refund per old client)
//! → `StartedWorkers` (one last payout per old worker) → `Closing` (after `close_at`, the
//! signed close completion) → record deleted.
//!
//! Each call of [`step`] first reads the contracts back from the ledger and advances only
//! on what it sees there (the proxy contract closing or closed, a client or worker contract
//! closed); otherwise it sends the step's message (at most once per [`RESEND_AFTER`] while
//! its effect is not seen: on TON a message takes blocks to land) and reads back again. The
//! caller persists every change, so a crash or restart resumes at the last observed step.
//!
//! A party whose contract is unknown to the ledger, or whose message the ledger refuses for
//! good (e.g. its contract cannot cover the charge), is skipped with a warning: the client
//! can still close its contract itself (`owner_client_request_refund`, then withdraw).

use std::time::{Duration, Instant};

use cocoon_ledger::address::parse_address;
use cocoon_ledger::books::{OldContractRecord, OldContractStep, OldParty};
use cocoon_ledger::ledger::{ContractStatus, Ledger, LedgerError};
use cocoon_ledger::voucher::VoucherKind;
use tonlib_core::TonAddress;
use tracing::{info, warn};

use crate::proxy::ProxyPayments;

/// How long a sent step waits to be seen before it is sent again.
pub const RESEND_AFTER: Duration = Duration::from_secs(30);

/// What one [`step`] did to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing observed yet (a message may have been sent).
    Waiting,
    /// The record changed: persist it.
    Advanced,
    /// The old contract is closed: delete the record.
    Closed,
}

/// The last message sent for one old contract: (step, parties left, when).
#[derive(Debug, Clone, Default)]
pub struct SendGuard {
    last: Option<(OldContractStep, usize, usize, Instant)>,
}

impl SendGuard {
    fn due(&self, r: &OldContractRecord) -> bool {
        match self.last {
            Some((step, clients, workers, at)) => {
                (step, clients, workers) != (r.step, r.clients.len(), r.workers.len())
                    || at.elapsed() >= RESEND_AFTER
            }
            None => true,
        }
    }
    fn sent(&mut self, r: &OldContractRecord) {
        self.last = Some((r.step, r.clients.len(), r.workers.len(), Instant::now()));
    }
}

fn address(text: &str) -> Option<TonAddress> {
    parse_address(text).ok().map(|a| a.address)
}

/// Whether a refusal will not go away by retrying (the party is skipped).
fn permanent(e: &LedgerError) -> bool {
    !matches!(e, LedgerError::Storage(_) | LedgerError::Locked { .. })
}

/// One step of the close of `r` (see the module doc). `wallet` sends (and owns the proxy
/// contract); `payments` signs the refunds and last payouts.
pub fn step(
    ledger: &dyn Ledger,
    wallet: &TonAddress,
    payments: &std::sync::Mutex<ProxyPayments>,
    r: &mut OldContractRecord,
    guard: &mut SendGuard,
) -> Result<Progress, String> {
    let proxy_sc = address(&r.proxy_sc).ok_or("old proxy contract address unparsable")?;
    let proxy = match ledger.proxy_state(&proxy_sc) {
        Ok(state) => state,
        Err(LedgerError::UnknownContract(_)) => {
            warn!(proxy_sc = %r.proxy_sc, "old proxy contract unknown to the ledger; forgetting it");
            return Ok(Progress::Closed);
        }
        Err(e) => return Err(format!("reading the old proxy contract: {e}")),
    };
    if proxy.status == ContractStatus::Closed {
        info!(proxy_sc = %r.proxy_sc, "old proxy contract closed");
        return Ok(Progress::Closed);
    }
    match r.step {
        OldContractStep::NotStarted => {
            if proxy.status == ContractStatus::Closing {
                r.step = OldContractStep::StartedClients;
                r.close_at = proxy.unlock_ts.saturating_add(1);
                info!(proxy_sc = %r.proxy_sc, close_at = r.close_at, "old proxy contract closing");
                return Ok(Progress::Advanced);
            }
            if guard.due(r) {
                guard.sent(r);
                ledger
                    .proxy_request_close(wallet, &proxy_sc)
                    .map_err(|e| format!("close request: {e}"))?;
                return step_again(ledger, wallet, payments, r, guard);
            }
            Ok(Progress::Waiting)
        }
        OldContractStep::StartedClients => {
            let Some(front) = r.clients.first().cloned() else {
                r.step = OldContractStep::StartedWorkers;
                return Ok(Progress::Advanced);
            };
            settle_party(ledger, payments, r, guard, &front, true)
        }
        OldContractStep::StartedWorkers => {
            let Some(front) = r.workers.first().cloned() else {
                r.step = OldContractStep::Closing;
                return Ok(Progress::Advanced);
            };
            settle_party(ledger, payments, r, guard, &front, false)
        }
        OldContractStep::Closing => {
            if ledger.now() < r.close_at || !guard.due(r) {
                return Ok(Progress::Waiting);
            }
            guard.sent(r);
            match ledger.proxy_complete_close(wallet, &proxy_sc) {
                Ok(amount) => {
                    info!(proxy_sc = %r.proxy_sc, amount, "old proxy contract close completion sent")
                }
                Err(LedgerError::Locked { unlock_ts, now }) => {
                    r.close_at = unlock_ts.saturating_add(1);
                    warn!(unlock_ts, now, "old proxy contract still locked");
                    return Ok(Progress::Advanced);
                }
                Err(e) => return Err(format!("close completion: {e}")),
            }
            match ledger.proxy_state(&proxy_sc) {
                Ok(s) if s.status == ContractStatus::Closed => Ok(Progress::Closed),
                _ => Ok(Progress::Waiting),
            }
        }
    }
}

/// After sending: read back once more (the devnet applies at once; TON later).
fn step_again(
    ledger: &dyn Ledger,
    wallet: &TonAddress,
    payments: &std::sync::Mutex<ProxyPayments>,
    r: &mut OldContractRecord,
    guard: &mut SendGuard,
) -> Result<Progress, String> {
    let before = r.clone();
    match step(ledger, wallet, payments, r, guard)? {
        Progress::Waiting if *r == before => Ok(Progress::Waiting),
        Progress::Waiting => Ok(Progress::Advanced),
        other => Ok(other),
    }
}

fn party_list(r: &mut OldContractRecord, client: bool) -> &mut Vec<OldParty> {
    if client {
        &mut r.clients
    } else {
        &mut r.workers
    }
}

/// The front client (`client = true`) or worker: done once its contract shows closed;
/// otherwise the signed grant refund / last payout is sent.
fn settle_party(
    ledger: &dyn Ledger,
    payments: &std::sync::Mutex<ProxyPayments>,
    r: &mut OldContractRecord,
    guard: &mut SendGuard,
    party: &OldParty,
    client: bool,
) -> Result<Progress, String> {
    let Some(sc) = address(&party.sc_address) else {
        warn!(owner = %party.owner, "old party without a contract address; skipped");
        party_list(r, client).remove(0);
        return Ok(Progress::Advanced);
    };
    let status = if client {
        ledger.client_state(&sc).map(|s| s.status)
    } else {
        ledger.worker_state(&sc).map(|s| s.status)
    };
    match status {
        Ok(ContractStatus::Closed) => {
            info!(owner = %party.owner, sc = %party.sc_address, client, "old contract settled and closed");
            party_list(r, client).remove(0);
            return Ok(Progress::Advanced);
        }
        Ok(_) => {}
        Err(LedgerError::UnknownContract(_)) => {
            warn!(owner = %party.owner, sc = %party.sc_address, "old party contract unknown; skipped");
            party_list(r, client).remove(0);
            return Ok(Progress::Advanced);
        }
        Err(e) => return Err(format!("reading {}: {e}", party.sc_address)),
    }
    if !guard.due(r) {
        return Ok(Progress::Waiting);
    }
    guard.sent(r);
    let kind = if client {
        VoucherKind::ClientGrantRefund
    } else {
        VoucherKind::WorkerLastPayout
    };
    let signed =
        crate::proxy::registry::lock(payments).sign_close_flow(kind, party.tokens, sc.clone())?;
    let sent = if client {
        ledger.client_grant_refund(&sc, &signed)
    } else {
        ledger.worker_last_payout(&sc, &signed)
    };
    match sent {
        Ok(s) => {
            info!(owner = %party.owner, tokens = party.tokens, settled = s.tokens, nanoton = %s.amount, client, "old contract: final settlement sent");
            let closed = if client {
                ledger.client_state(&sc).map(|s| s.status)
            } else {
                ledger.worker_state(&sc).map(|s| s.status)
            };
            if closed == Ok(ContractStatus::Closed) {
                party_list(r, client).remove(0);
                return Ok(Progress::Advanced);
            }
            Ok(Progress::Waiting)
        }
        Err(e) if permanent(&e) => {
            warn!(owner = %party.owner, sc = %party.sc_address, error = %e, client, "old contract: final settlement refused; skipped");
            party_list(r, client).remove(0);
            Ok(Progress::Advanced)
        }
        Err(e) => Err(format!("final settlement of {}: {e}", party.sc_address)),
    }
}
