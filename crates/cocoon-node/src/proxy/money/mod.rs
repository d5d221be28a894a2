//! The proxy on a ledger (devnet today): its contract, the chain commits of its books,
//! and the money loop (runners.md §6.5, §8).
//!
//! * **Start** ([`Money::start`]): find the proxy contract at the address derived from our
//!   owner, key and the ledger's root params, or deploy it with the root's `min_proxy_stake`
//!   from the owner wallet. Devnet simplification: the proxy's wallet *is* its config's
//!   `owner_address` (the reference sends through a separate cocoon wallet it owns).
//!   Then one start-up commit is written and sent as `save_state(seqno, session_hash)` with
//!   a fresh random session hash; restored counters become `committed_to_blockchain` only
//!   once that is read back.
//! * **Commits** ([`Money::commit_tick`]): changed counters are flushed to the books every
//!   `flush_interval`; every `save_state_interval` the latest seqno is sent on chain; then
//!   the proxy contract is read back and the highest seqno carrying *our* session hash is
//!   promoted ([`super::ProxyPayments::confirm_on_chain`]). Nothing is promoted on the
//!   strength of having sent it.
//! * **Charging and paying** ([`charging`]): client charges, worker payouts and the
//!   commission withdrawal, each when what is owed reaches its nanoTON threshold; a client
//!   contract in Closing gets its final charge and refund from us ([`closing`]).
//! * **Leaving an outdated contract** ([`Money::retire`]): when the root `params_version`
//!   rises above our contract's, everything is committed, the counters move into an
//!   old-contract record of the books, and [`Money::restart_requested`] asks the listener
//!   to restart the proxy on a contract of the new params. Each tick then advances the close
//!   of every old contract one observed step ([`old_contract`]).
//!
//! Every ledger call here is synchronous (see `cocoon_ledger::ledger`); the loop runs them
//! on the blocking pool.

mod charging;
mod closing;
mod leave;
pub mod old_contract;
mod view;
mod worker_funds;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cocoon_ledger::accounting::Prices;
use cocoon_ledger::books::OldContractRecord;
use cocoon_ledger::ledger::{ContractStatus, Ledger, LedgerError, SavedState};
use cocoon_ledger::root_config::RootParams;
use ed25519_dalek::VerifyingKey;
use tonlib_core::TonAddress;
use tracing::{info, warn};

use super::registry::lock;
use super::settings::MoneySettings;
use super::ProxyPayments;

use old_contract::SendGuard;
pub use view::{MoneyView, OldContractView};

/// The proxy's side of the ledger. See the module doc.
pub struct Money {
    ledger: Arc<dyn Ledger>,
    /// Our wallet (devnet: the owner address).
    wallet: TonAddress,
    proxy_sc: TonAddress,
    prices: Prices,
    params_version: u32,
    /// The root params our contract was deployed with (kept in its old-contract record).
    params: RootParams,
    /// Our contract was left on an operator request and is being closed: nothing is served
    /// until the root params change (the reference's `disabled_until_version`).
    disabled: bool,
    settings: MoneySettings,
    session_hash: [u8; 32],
    state: Mutex<LoopState>,
}

impl std::fmt::Debug for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Money")
            .field("wallet", &self.wallet.to_hex())
            .field("proxy_sc", &self.proxy_sc.to_hex())
            .field("prices", &self.prices)
            .finish_non_exhaustive()
    }
}

/// Progress of the loop; its lock also serialises every ledger-writing step.
#[derive(Debug)]
struct LoopState {
    last_flush: Instant,
    last_save: Option<Instant>,
    /// Highest seqno sent in a `save_state` this session.
    sent_seqno: u64,
    /// Highest of our seqnos read back from the proxy contract.
    confirmed_seqno: u64,
    view: MoneyView,
    /// Old proxy contracts being closed, with their resend guards.
    old: Vec<(OldContractRecord, SendGuard)>,
    /// Our contract was retired: nothing more is done here and the proxy restarts.
    retired: bool,
    /// When the grant refund of each Closing client was last sent ([`closing`]).
    granted: std::collections::HashMap<String, Instant>,
    /// When our stake was last raised to cover a refund ([`closing`]).
    stake_raised_at: Option<Instant>,
}

/// Why a `save_state` was not sent.
enum SaveError {
    /// The ledger holds an equal or newer seqno (our earlier send landed after all).
    NotIncreasing(String),
    Other(String),
}

fn ledger_err(what: &str) -> impl FnOnce(LedgerError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The highest `save_state` seqno the ledger holds for `proxy_sc` (any session).
pub fn last_saved_seqno(ledger: &dyn Ledger, proxy_sc: &TonAddress) -> Option<u64> {
    let state = ledger.proxy_state(proxy_sc).ok()?;
    state.saved_states.iter().map(|s| u64::from(s.seqno)).max()
}

impl Money {
    /// Attaches to (or deploys) the proxy contract and confirms a start-up commit. `payments`
    /// must derive its addresses from the ledger's root params and await chain confirmation.
    pub fn start(
        ledger: Arc<dyn Ledger>,
        settings: MoneySettings,
        proxy_key: &VerifyingKey,
        payments: &Mutex<ProxyPayments>,
    ) -> Result<Money, String> {
        let root = ledger
            .root_config()
            .map_err(ledger_err("ledger root config"))?;
        let prices = root
            .params
            .prices()
            .map_err(|e| format!("ledger root prices: {e}"))?;
        let (proxy_sc, wallet) = lock(payments).proxy_accounts().ok_or(
            "a proxy on a ledger needs its signing key and a valid owner_address (its wallet)",
        )?;
        let old = lock(payments).old_contracts()?;
        // Our contract is among those being closed (left on an operator request): disabled.
        let disabled = old.iter().any(|r| r.proxy_sc == proxy_sc.to_hex());
        if !disabled {
            ensure_contract(
                &*ledger,
                &wallet,
                proxy_key,
                &proxy_sc,
                root.params.min_proxy_stake,
            )?;
        }
        let money = Money {
            ledger,
            wallet,
            proxy_sc,
            prices,
            params_version: root.params.params_version,
            params: root.params.clone(),
            disabled,
            settings,
            session_hash: rand::random(),
            state: Mutex::new(LoopState {
                last_flush: Instant::now(),
                last_save: None,
                sent_seqno: 0,
                confirmed_seqno: 0,
                view: MoneyView::default(),
                old: Vec::new(),
                retired: false,
                granted: std::collections::HashMap::new(),
                stake_raised_at: None,
            }),
        };
        if !old.is_empty() {
            info!(
                count = old.len(),
                "old proxy contracts to close, resumed from the books"
            );
        }
        lock(&money.state).old = old.into_iter().map(|r| (r, SendGuard::default())).collect();
        if disabled {
            lock(&money.state).view.disabled = true;
            warn!(
                proxy_sc = %money.proxy_sc.to_hex(),
                "proxy disabled: its contract is being closed; it serves again once the root params change"
            );
            return Ok(money);
        }
        // Start-up commit (runners.md §8): a seqno above everything stored and everything
        // the chain saw, confirmed before the proxy serves anyone.
        let chain_seqno = last_saved_seqno(&*money.ledger, &money.proxy_sc).unwrap_or(0);
        let seqno = {
            let mut p = lock(payments);
            p.skip_seqnos_to(chain_seqno);
            p.flush_always()
                .ok_or("cannot write the start-up commit to the books")?
        };
        money
            .send_save_state(&mut lock(&money.state), seqno)
            .map_err(|e| match e {
                SaveError::NotIncreasing(e) | SaveError::Other(e) => e,
            })?;
        let confirmed = money.read_back(&mut lock(&money.state), payments)?;
        if confirmed < seqno {
            return Err(format!(
                "the ledger does not show our start-up save_state({seqno}) after sending it"
            ));
        }
        info!(proxy_sc = %money.proxy_sc.to_hex(), seqno, "proxy contract ready; start-up commit confirmed on the ledger");
        Ok(money)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Root prices.
    pub fn prices(&self) -> Prices {
        self.prices
    }

    /// Loop cadence and thresholds.
    pub fn settings(&self) -> &MoneySettings {
        &self.settings
    }

    /// Our proxy contract.
    pub fn proxy_sc(&self) -> &TonAddress {
        &self.proxy_sc
    }

    /// The interval the background loop wakes up at.
    pub fn tick_interval(&self) -> Duration {
        self.settings
            .flush_interval
            .min(self.settings.check_interval)
            .min(self.settings.save_state_interval)
            .max(Duration::from_millis(50))
    }

    /// One loop step: commits as due, then charges and payouts as due, then the root
    /// params check (a raised `params_version` retires our contract) and one step of each
    /// old contract's close.
    pub fn tick(&self, payments: &Mutex<ProxyPayments>) {
        let mut st = lock(&self.state);
        if st.retired {
            return;
        }
        if self.disabled {
            self.disabled_tick(&mut st, payments);
            return;
        }
        if let Err(e) = self.commit_tick(&mut st, payments, false) {
            warn!(error = %e, "money loop: commit step failed");
            st.view.last_error = Some(e);
        }
        self.charging_tick(&mut st, payments);
        match self.ledger.root_config() {
            Ok(root) if root.params.params_version > self.params_version => {
                let reason = format!(
                    "root params_version {} is above our contract's {}",
                    root.params.params_version, self.params_version
                );
                if let Err(e) = self.retire_locked(&mut st, payments, &reason) {
                    warn!(error = %e, "money loop: cannot leave the outdated contract");
                    st.view.last_error = Some(e);
                }
                return;
            }
            Ok(_) => {}
            // Not adopted yet on TON, or the ledger file unreadable: checked again next tick.
            Err(e) => tracing::debug!(error = %e, "money loop: root config unavailable"),
        }
        self.old_contracts_tick(&mut st, payments);
    }

    /// Flushes, sends `save_state` and reads it back now, whatever the intervals; returns
    /// the highest confirmed seqno.
    pub fn commit_now(&self, payments: &Mutex<ProxyPayments>) -> Result<u64, String> {
        if self.disabled {
            return Err("the proxy is disabled: its contract is being closed".into());
        }
        let mut st = lock(&self.state);
        self.commit_tick(&mut st, payments, true)
    }

    fn commit_tick(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
        now: bool,
    ) -> Result<u64, String> {
        if now || st.last_flush.elapsed() >= self.settings.flush_interval {
            lock(payments).flush();
            st.last_flush = Instant::now();
        }
        let save_due = st
            .last_save
            .is_none_or(|t| t.elapsed() >= self.settings.save_state_interval);
        let seqno = lock(payments).seqno();
        // Sent again while not seen: a message can be lost (the reference's wallet resends
        // until it lands). A "not increasing" refusal means an equal or newer one landed.
        if (now || save_due) && seqno > st.confirmed_seqno {
            match self.send_save_state(st, seqno) {
                Ok(()) => {}
                Err(SaveError::NotIncreasing(e)) => {
                    tracing::debug!(seqno, error = %e, "save_state already on the ledger")
                }
                Err(SaveError::Other(e)) => return Err(e),
            }
        }
        self.read_back(st, payments)
    }

    fn send_save_state(&self, st: &mut LoopState, seqno: u64) -> Result<(), SaveError> {
        let saved = SavedState {
            seqno: u32::try_from(seqno)
                .map_err(|_| SaveError::Other(format!("seqno {seqno} exceeds 32 bits")))?,
            session_hash: self.session_hash,
        };
        st.last_save = Some(Instant::now());
        match self
            .ledger
            .proxy_save_state(&self.wallet, &self.proxy_sc, saved)
        {
            Ok(()) => {
                st.sent_seqno = st.sent_seqno.max(seqno);
                Ok(())
            }
            Err(e @ LedgerError::Invalid(_)) if st.sent_seqno >= seqno => {
                Err(SaveError::NotIncreasing(e.to_string()))
            }
            Err(e) => Err(SaveError::Other(format!("save_state: {e}"))),
        }
    }

    /// Reads the proxy contract and promotes the highest seqno of ours found there.
    fn read_back(
        &self,
        st: &mut LoopState,
        payments: &Mutex<ProxyPayments>,
    ) -> Result<u64, String> {
        let state = self
            .ledger
            .proxy_state(&self.proxy_sc)
            .map_err(ledger_err("reading the proxy contract"))?;
        let ours = state
            .saved_states
            .iter()
            .filter(|s| s.session_hash == self.session_hash)
            .map(|s| u64::from(s.seqno))
            .max();
        if let Some(foreign) = state
            .saved_states
            .iter()
            .find(|s| u64::from(s.seqno) > st.sent_seqno && s.session_hash != self.session_hash)
        {
            // The reference aborts here (another instance or a rolled-back database).
            warn!(
                seqno = foreign.seqno,
                "a save_state this proxy did not send is on its contract"
            );
        }
        if let Some(seqno) = ours.filter(|s| *s > st.confirmed_seqno && *s <= st.sent_seqno) {
            let grown = lock(payments).confirm_on_chain(seqno);
            st.confirmed_seqno = seqno;
            tracing::debug!(
                seqno,
                grown,
                "save_state seen on the ledger; commits confirmed"
            );
        }
        st.view.sent_seqno = st.sent_seqno;
        st.view.confirmed_seqno = st.confirmed_seqno;
        st.view.proxy = Some(state);
        Ok(st.confirmed_seqno)
    }

    /// The last view of the ledger (for stats).
    pub fn view(&self) -> MoneyView {
        lock(&self.state).view.clone()
    }

    /// Root `params_version` the contract was deployed with.
    pub fn params_version(&self) -> u32 {
        self.params_version
    }
}

/// Reuses an active proxy contract at `proxy_sc` or deploys it from `wallet`.
fn ensure_contract(
    ledger: &dyn Ledger,
    wallet: &TonAddress,
    proxy_key: &VerifyingKey,
    proxy_sc: &TonAddress,
    stake: cocoon_ledger::accounting::NanoTon,
) -> Result<(), String> {
    match ledger.proxy_state(proxy_sc) {
        Ok(state) if state.status == ContractStatus::Active => {
            info!(proxy_sc = %proxy_sc.to_hex(), stake = state.stake, "reusing the active proxy contract");
            Ok(())
        }
        Ok(state) => Err(format!(
            "the proxy contract {} is {:?}; a closed or closing contract cannot serve \
             (use another owner_address or key for a new contract)",
            proxy_sc.to_hex(),
            state.status
        )),
        Err(LedgerError::UnknownContract(_)) => {
            let balance = ledger
                .wallet_balance(wallet)
                .map_err(ledger_err("reading the owner wallet"))?;
            if balance < stake {
                return Err(format!(
                    "the proxy owner wallet {} holds {balance} nanoTON, less than the minimum proxy \
                     stake {stake}; fund it first: {}",
                    wallet.to_hex(),
                    ledger.funding_hint(&wallet.to_hex(), stake)
                ));
            }
            let deployed = ledger
                .proxy_deploy(wallet, proxy_key, stake)
                .map_err(ledger_err("deploying the proxy contract"))?;
            if &deployed != proxy_sc {
                return Err(format!(
                    "the ledger deployed the proxy contract at {}, not at the derived {}",
                    deployed.to_hex(),
                    proxy_sc.to_hex()
                ));
            }
            info!(proxy_sc = %proxy_sc.to_hex(), stake, "proxy contract deployed");
            Ok(())
        }
        Err(e) => Err(format!("reading the proxy contract: {e}")),
    }
}
