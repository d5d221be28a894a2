//! A request's reservation against its client's contract (runners.md §6.1, §4.3), taken at
//! request start and released when the request ends, whichever way it ends.
//!
//! The reservation is `reservation_for(max_tokens, request bytes, max_coefficient)` adjusted
//! tokens. The client contract's chain view is read from the ledger when the cached one is
//! older than `client_view_max_age` (the money loop also refreshes it every check). Usage
//! reported beyond the reservation is not billed (see [`super::ProxyShared::settle`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cocoon_ledger::accounting::reservation_for;
use cocoon_ledger::ledger::LedgerError;

use super::payments::{ClientChain, ReserveError, Side};
use super::registry::lock;
use super::ProxyShared;

/// Tokens held for one running request; the rest is released on drop.
#[derive(Debug)]
pub struct Reservation {
    shared: Arc<ProxyShared>,
    owner: String,
    remaining: AtomicU64,
}

impl Reservation {
    /// Tokens still held.
    pub fn remaining(&self) -> u64 {
        self.remaining.load(Ordering::Relaxed)
    }

    /// Takes up to `reported` tokens out of the reservation for billing; returns how many
    /// (the caller releases them from the client's reserved total as it bills them).
    pub(super) fn consume(&self, reported: u64) -> u64 {
        let mut taken = 0;
        let _ = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                taken = left.min(reported);
                Some(left - taken)
            });
        taken
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let left = self.remaining.swap(0, Ordering::Relaxed);
        if left > 0 {
            lock(&self.shared.payments).release(&self.owner, left);
        }
    }
}

/// Validated reservation size of a request: `max_tokens` and `max_coefficient` must not be
/// negative (the reference did not check, §13.8); the arithmetic saturates.
pub fn reservation_tokens(
    max_tokens: i32,
    request_bytes: usize,
    max_coefficient: i32,
) -> Result<u64, String> {
    let max_tokens = u64::try_from(max_tokens)
        .map_err(|_| format!("max_tokens {max_tokens} must not be negative"))?;
    if max_coefficient < 0 {
        return Err(format!(
            "max_coefficient {max_coefficient} must not be negative"
        ));
    }
    let bytes = u64::try_from(request_bytes).unwrap_or(u64::MAX);
    Ok(reservation_for(
        max_tokens,
        bytes,
        i64::from(max_coefficient),
    ))
}

impl ProxyShared {
    /// Reserves `tokens` for a request of client `owner`; `Ok(None)` without a ledger.
    pub async fn reserve(
        self: &Arc<Self>,
        owner: &str,
        tokens: u64,
    ) -> Result<Option<Reservation>, ReserveError> {
        let Some(money) = &self.money else {
            return Ok(None);
        };
        let max_age = money.settings().client_view_max_age;
        let (fresh, sc) = {
            let p = lock(&self.payments);
            let fresh = p.client_chain(owner).is_some_and(|c| c.is_fresh(max_age));
            (fresh, p.contract(Side::Client, owner))
        };
        if !fresh {
            let sc = sc.ok_or_else(|| ReserveError::UnknownContract(owner.to_owned()))?;
            let ledger = money.ledger().clone();
            let read_sc = sc.clone();
            let read = tokio::task::spawn_blocking(move || ledger.client_state(&read_sc)).await;
            match read {
                Ok(Ok(state)) => {
                    lock(&self.payments).set_client_chain(owner, ClientChain::fetched(&state))
                }
                Ok(Err(LedgerError::UnknownContract(_))) => {
                    return Err(ReserveError::UnknownContract(sc.to_hex()))
                }
                Ok(Err(e)) => {
                    tracing::warn!(client = owner, error = %e, "cannot read the client contract");
                    return Err(ReserveError::NoChainView);
                }
                Err(e) => {
                    tracing::warn!(client = owner, error = %e, "client contract read task failed");
                    return Err(ReserveError::NoChainView);
                }
            }
        }
        lock(&self.payments).reserve(owner, tokens, &money.prices())?;
        Ok(Some(Reservation {
            shared: self.clone(),
            owner: owner.to_owned(),
            remaining: AtomicU64::new(tokens),
        }))
    }
}
