//! Leaving our proxy contract (runners.md §8 `close_all`) and driving the close of every
//! old contract, one observed step per money tick ([`super::old_contract`]).

use std::sync::Mutex;

use tracing::{info, warn};

use super::old_contract::{self, Progress};
use super::{LoopState, Money, OldContractView};
use crate::proxy::registry::lock;
use crate::proxy::ProxyPayments;

impl Money {
    /// Whether the proxy is disabled (its contract left on an operator request and being
    /// closed): it serves nobody until the root params change.
    pub fn disabled(&self) -> bool {
        self.disabled
    }

    /// A disabled proxy's tick: the close steps only, and a restart once the root params
    /// change (a new contract can then be deployed).
    pub(super) fn disabled_tick(&self, st: &mut LoopState, payments: &Mutex<ProxyPayments>) {
        if let Ok(root) = self.ledger.root_config() {
            if root.params.params_version > self.params_version {
                info!(
                    params_version = root.params.params_version,
                    "root params changed: the disabled proxy restarts on a new contract"
                );
                // The restarted proxy opens the books file again (one opener at a time).
                lock(payments).close_books();
                st.retired = true;
                st.view.retired = true;
                return;
            }
        }
        self.old_contracts_tick(st, payments);
    }

    /// Leaves our contract now (the reference's `/request/disable` and `close_all`):
    /// commits everything, moves every counter into an old-contract record of the books and
    /// asks for a restart ([`Self::restart_requested`]) on the contract of the ledger's
    /// current params; the old contract is then closed by the restarted proxy.
    pub fn retire(&self, payments: &Mutex<ProxyPayments>, reason: &str) -> Result<(), String> {
        let mut st = lock(&self.state);
        self.retire_locked(&mut st, payments, reason)
    }

    pub(super) fn retire_locked(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
        reason: &str,
    ) -> Result<(), String> {
        if st.retired {
            return Ok(());
        }
        if let Err(e) = self.commit_tick(st, payments, true) {
            warn!(error = %e, "last commit on the outdated contract failed");
        }
        let record =
            lock(payments).retire_contract(&self.proxy_sc.to_hex(), self.params.clone())?;
        info!(
            proxy_sc = %record.proxy_sc,
            clients = record.clients.len(),
            workers = record.workers.len(),
            reason,
            "left the proxy contract; it will be closed after the restart"
        );
        st.retired = true;
        st.view.retired = true;
        Ok(())
    }

    /// Whether our contract was retired and the proxy must restart on a new one.
    pub fn restart_requested(&self) -> bool {
        lock(&self.state).retired
    }

    /// One step of each old contract's close; each change persisted at once.
    pub(super) fn old_contracts_tick(&self, st: &mut LoopState, payments: &Mutex<ProxyPayments>) {
        let mut i = 0;
        while let Some((record, guard)) = st.old.get_mut(i) {
            let result = old_contract::step(&*self.ledger, &self.wallet, payments, record, guard);
            let saved = match result {
                Ok(Progress::Waiting) => Ok(()),
                Ok(Progress::Advanced) => lock(payments).save_old_contract(record),
                Ok(Progress::Closed) => {
                    let r = lock(payments).delete_old_contract(&record.proxy_sc);
                    if r.is_ok() {
                        st.old.remove(i);
                        continue;
                    }
                    r
                }
                Err(e) => Err(e),
            };
            if let Err(e) = saved {
                warn!(error = %e, "old proxy contract close step failed");
                st.view.last_error = Some(e);
            }
            i += 1;
        }
        st.view.old_contracts = st
            .old
            .iter()
            .map(|(r, _)| OldContractView {
                proxy_sc: r.proxy_sc.clone(),
                step: format!("{:?}", r.step),
                close_at: r.close_at,
                clients_left: r.clients.len(),
                workers_left: r.workers.len(),
            })
            .collect();
    }
}
