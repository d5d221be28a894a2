//! The client's outdated contracts (runners.md §6.4, close flow): a contract whose
//! `params_version` is below the root's, or one replaced because the proxy announced another
//! proxy contract, is kept here until it is closed. The proxy gets the first chance to close
//! it (its grant refund returns the whole balance); if the contract is still active
//! `(proxy_delay_before_close − client_delay_before_close) / 2` seconds after we noticed, we
//! request the refund ourselves, and withdraw once its `unlock_ts` has passed.

use cocoon_ledger::ledger::{ContractStatus, LedgerError};
use tonlib_core::TonAddress;

use super::{ClientMoney, MoneyError};

/// An outdated contract of ours, still to close.
#[derive(Debug, Clone)]
pub(super) struct OldClientContract {
    pub(super) client_sc: TonAddress,
    /// Ledger time we noticed it was outdated.
    pub(super) since: u64,
}

impl ClientMoney {
    /// Keeps `client_sc` until it is closed (once).
    pub(super) fn retire_contract(&self, client_sc: TonAddress, why: &str) {
        let mut old = self.old_lock();
        if old.iter().any(|o| o.client_sc == client_sc) {
            return;
        }
        tracing::info!(client_sc = %client_sc.to_hex(), why, "client contract outdated; it will be closed");
        old.push(OldClientContract {
            client_sc,
            since: self.ledger.now(),
        });
    }

    /// One step per outdated contract: forget it when closed (by the proxy's refund or our
    /// withdrawal), request the refund after the proxy's chance, withdraw after the unlock.
    pub(super) fn close_old_contracts(&self) {
        let old: Vec<OldClientContract> = self.old_lock().clone();
        for contract in old {
            match self.close_old_step(&contract) {
                Ok(true) => self
                    .old_lock()
                    .retain(|o| o.client_sc != contract.client_sc),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(client_sc = %contract.client_sc.to_hex(), error = %e, "closing an outdated client contract")
                }
            }
        }
    }

    /// Whether the contract is closed (done).
    fn close_old_step(&self, old: &OldClientContract) -> Result<bool, MoneyError> {
        let state = match self.ledger.client_state(&old.client_sc) {
            Ok(state) => state,
            Err(LedgerError::UnknownContract(_)) => return Ok(true),
            Err(e) => return Err(e.into()),
        };
        let now = self.ledger.now();
        match state.status {
            ContractStatus::Closed => {
                tracing::info!(client_sc = %old.client_sc.to_hex(), "outdated client contract closed");
                Ok(true)
            }
            ContractStatus::Active => {
                let params = self.ledger.root_config()?.params;
                let wait = u64::from(
                    params
                        .proxy_delay_before_close
                        .saturating_sub(params.client_delay_before_close),
                ) / 2;
                if now >= old.since.saturating_add(wait) {
                    let unlock = self
                        .ledger
                        .client_request_refund(&self.wallet.address, &old.client_sc)?;
                    tracing::info!(client_sc = %old.client_sc.to_hex(), unlock,
                        "outdated client contract not refunded by the proxy; refund requested");
                }
                Ok(false)
            }
            ContractStatus::Closing => {
                // The second refund request, strictly after the unlock time, closes it.
                if now > state.unlock_ts {
                    self.ledger
                        .client_request_refund(&self.wallet.address, &old.client_sc)?;
                    tracing::info!(client_sc = %old.client_sc.to_hex(), "outdated client contract closed by a second refund request");
                    self.refresh_wallet();
                    return Ok(true);
                }
                Ok(false)
            }
        }
    }

    /// Outdated contracts still open (for stats and tests).
    pub fn old_contracts(&self) -> Vec<TonAddress> {
        self.old_lock()
            .iter()
            .map(|o| o.client_sc.clone())
            .collect()
    }

    fn old_lock(&self) -> std::sync::MutexGuard<'_, Vec<OldClientContract>> {
        self.old.lock().unwrap_or_else(|e| e.into_inner())
    }
}
