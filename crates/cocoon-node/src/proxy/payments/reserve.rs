//! Reservations against a client contract's chain view (runners.md §6.1):
//! `tokens_available = min(tokens_payed, tokens_stake + sc_tokens_used) − reserved − tokens_used`,
//! computed by [`cocoon_ledger::accounting::ClientAccount`]. A request reserves its worst case
//! at start ([`ProxyPayments::reserve`]) and releases it at settlement
//! ([`ProxyPayments::release`]).

use std::time::{Duration, Instant};

use cocoon_ledger::accounting::{ClientAccount, ClientChainView, Prices};
use cocoon_ledger::ledger::{ClientContractState, ContractStatus};

use super::{ProxyPayments, Side};

/// The proxy's last view of one client contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientChain {
    /// Balance, stake and tokens charged on chain.
    pub view: ClientChainView,
    /// Contract lifecycle; `None` when only restored from the books (not yet read).
    pub status: Option<ContractStatus>,
    /// When it was read from the ledger; `None` = restored from the books.
    pub fetched_at: Option<Instant>,
}

impl ClientChain {
    /// A view just read from the ledger.
    pub fn fetched(state: &ClientContractState) -> Self {
        ClientChain {
            view: ClientChainView {
                balance: state.balance,
                stake: state.stake,
                sc_tokens_used: state.tokens_used,
            },
            status: Some(state.status),
            fetched_at: Some(Instant::now()),
        }
    }

    /// A view restored from the books (stale until read again).
    pub fn restored(view: ClientChainView) -> Self {
        ClientChain {
            view,
            status: None,
            fetched_at: None,
        }
    }

    /// Read from the ledger at most `max_age` ago.
    pub fn is_fresh(&self, max_age: Duration) -> bool {
        self.fetched_at.is_some_and(|t| t.elapsed() <= max_age)
    }
}

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    /// The client contract is not on the ledger.
    #[error(
        "client contract {0} is not deployed (the client deploys and tops it up on first contact)"
    )]
    UnknownContract(String),
    /// The client contract is closing or closed.
    #[error("client contract {0} is {1:?}; open a new one to continue")]
    NotActive(String, ContractStatus),
    /// Not enough prepaid tokens (the reference's wording, runners.md §7).
    #[error("client balance is too low: to_reserve={requested} tokens_available={available}")]
    BalanceTooLow {
        /// Tokens asked for.
        requested: u64,
        /// `tokens_available` at the time.
        available: i128,
    },
    /// The client contract has not been read yet.
    #[error("client contract state is not known yet")]
    NoChainView,
}

impl ProxyPayments {
    /// The last chain view of `owner`'s client contract.
    pub fn client_chain(&self, owner: &str) -> Option<ClientChain> {
        self.clients.get(owner).and_then(|p| p.client_chain)
    }

    /// Records a chain view of `owner`'s client contract.
    pub fn set_client_chain(&mut self, owner: &str, chain: ClientChain) {
        self.clients
            .entry(owner.to_owned())
            .or_default()
            .client_chain = Some(chain);
    }

    /// Tokens the worker contract of `owner` says were paid out.
    pub fn worker_paid(&self, owner: &str) -> Option<u64> {
        self.workers.get(owner).and_then(|p| p.worker_paid)
    }

    /// Records the worker contract's paid-out tokens.
    pub fn set_worker_paid(&mut self, owner: &str, paid: u64) {
        if let Some(p) = self.workers.get_mut(owner) {
            p.worker_paid = Some(paid);
        }
    }

    /// Tokens reserved by `owner`'s running requests.
    pub fn reserved(&self, owner: &str) -> u64 {
        self.clients.get(owner).map_or(0, |p| p.reserved)
    }

    /// `tokens_available` of `owner` (None without a chain view).
    pub fn tokens_available(&self, owner: &str, prices: &Prices) -> Option<i128> {
        let party = self.clients.get(owner)?;
        let chain = party.client_chain?;
        // The account's formula with reserved tokens counted as used:
        // limit − reserved − used == limit − (used + reserved).
        let mut account = ClientAccount::new(chain.view);
        account
            .counters
            .add(party.counters.tokens_max().saturating_add(party.reserved));
        Some(account.tokens_available(prices))
    }

    /// Reserves `tokens` for one of `owner`'s requests if the contract is active and that
    /// many tokens are available.
    pub fn reserve(
        &mut self,
        owner: &str,
        tokens: u64,
        prices: &Prices,
    ) -> Result<(), ReserveError> {
        let sc = self.sc_address(Side::Client, owner);
        let chain = self.client_chain(owner).ok_or(ReserveError::NoChainView)?;
        match chain.status {
            Some(ContractStatus::Active) | None => {}
            Some(status) => return Err(ReserveError::NotActive(sc, status)),
        }
        let available = self
            .tokens_available(owner, prices)
            .ok_or(ReserveError::NoChainView)?;
        if i128::from(tokens) > available {
            return Err(ReserveError::BalanceTooLow {
                requested: tokens,
                available,
            });
        }
        let party = self.clients.entry(owner.to_owned()).or_default();
        party.reserved = party.reserved.saturating_add(tokens);
        Ok(())
    }

    /// Releases `tokens` of `owner`'s reservations.
    pub fn release(&mut self, owner: &str, tokens: u64) {
        if let Some(p) = self.clients.get_mut(owner) {
            p.reserved = p.reserved.saturating_sub(tokens);
        }
    }

    /// The voucher for `owner`'s `committed_to_blockchain` on `side`, with its tokens
    /// (None while nothing is committed or vouchers cannot be signed).
    pub fn committed_voucher(&mut self, side: Side, owner: &str) -> Option<(u64, Vec<u8>)> {
        let tokens = self.counters(side, owner).committed_to_blockchain;
        self.voucher(side, owner, tokens).map(|boc| (tokens, boc))
    }

    /// Owners on `side`.
    pub fn owners(&self, side: Side) -> Vec<String> {
        self.parties(side).keys().cloned().collect()
    }
}
