//! The state snapshot the refresh task keeps and the [`cocoon_ledger::ledger::Ledger`] reads
//! are served from: the last block, the adopted root state, the wallet, the watched
//! contracts (parsed data, saved states, last seen transaction), and the submitted messages.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::{
    ClientContractState, ClientRegistration, LedgerError, ProxyContractState, SavedState,
    WorkerContractState,
};
use tonlib_core::TonAddress;

use crate::chain::{BlockRef, TxId};
use crate::contract_state::ProxyContractData;
use crate::root_state::RootTracker;
use crate::wallet::MessageTicket;

/// How many confirmed messages [`super::TonLedger::message_history`] keeps.
pub const CONFIRMED_KEPT: usize = 256;
/// How many observed `save_state` records a proxy contract view keeps (newest).
pub const SAVED_STATES_KEPT: usize = 64;

/// What a watched address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// A proxy contract (its transactions are read for `save_state`).
    Proxy,
    /// A client contract.
    Client,
    /// A worker contract.
    Worker,
    /// Any account whose balance is asked for.
    Plain,
}

/// The parsed data of a watched account.
#[derive(Clone, Debug)]
pub(crate) enum Parsed {
    Proxy(Box<ProxyContractData>),
    Client(ClientContractState),
    Worker(WorkerContractState),
}

/// One watched account.
#[derive(Clone, Debug)]
pub(crate) struct Watched {
    pub kind: WatchKind,
    /// Whether at least one read of it succeeded.
    pub synced: bool,
    pub balance: NanoTon,
    /// `None`: not deployed (no data).
    pub parsed: Option<Parsed>,
    pub parse_error: Option<String>,
    pub last_seen_tx: Option<TxId>,
    /// Observed `save_state` messages (proxy contracts), oldest first.
    pub saved_states: Vec<SavedState>,
    /// Observed client registrations (proxy contracts), oldest first.
    pub registrations: Vec<ClientRegistration>,
    /// Payout notifications its proxy contract bounced back (worker contracts).
    pub payouts_bounced: u32,
    /// Highest `save_state` seqno submitted from this ledger.
    pub save_submitted: Option<u32>,
    /// When it was last read from the chain.
    pub last_read: Option<tokio::time::Instant>,
    /// Read every round until then (a message to it, or a notification from it).
    pub hot_until: Option<tokio::time::Instant>,
}

impl Watched {
    pub fn new(kind: WatchKind) -> Watched {
        Watched {
            kind,
            synced: false,
            balance: 0,
            parsed: None,
            parse_error: None,
            last_seen_tx: None,
            saved_states: Vec::new(),
            registrations: Vec::new(),
            payouts_bounced: 0,
            save_submitted: None,
            last_read: None,
            hot_until: None,
        }
    }
}

/// How long a contract is read every round after a message to it or a notification from
/// it (internal messages land a few blocks after the wallet transaction that sent them).
pub const HOT_FOR: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a client or worker contract of our own proxy contract is read when nothing
/// says it changed: its changes reach us as notifications on the proxy contract, so this
/// only bounds the damage of a missed one.
pub const REPORTED_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

impl Watched {
    /// Whether the next round must read it. `reported`: it is a client or worker contract
    /// of a proxy contract we sign for, whose changes are notified to that proxy contract
    /// (the reference proxy learns its clients and workers that way only), so it is read
    /// when notified, written to, unsynced, or every [`REPORTED_RECHECK`]. Everything else
    /// is read every round.
    pub fn read_due(&self, reported: bool, now: tokio::time::Instant) -> bool {
        if !reported || !self.synced {
            return true;
        }
        self.hot_until.is_some_and(|until| now < until)
            || self
                .last_read
                .is_none_or(|at| now.duration_since(at) >= REPORTED_RECHECK)
    }
}

/// Where a submitted internal message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageStatus {
    /// Waiting for the wallet (one external message in flight at a time).
    Queued,
    /// Signed into the external message for this wallet seqno, sent, not yet observed.
    InFlight {
        /// Wallet seqno.
        seqno: u32,
    },
    /// The wallet transaction carrying it was observed at this chain time. The
    /// destination contract's new state shows in the next reads of it.
    Confirmed {
        /// Block time of the wallet transaction.
        utime: u64,
    },
}

/// A message submitted through a [`cocoon_ledger::ledger::Ledger`] write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMessage {
    /// Wallet sender ticket.
    pub ticket: MessageTicket,
    /// What it does (e.g. `"client_top_up"`).
    pub what: &'static str,
    /// Destination contract.
    pub dest: TonAddress,
    /// nanoTON attached.
    pub value: NanoTon,
    /// Chain time it was submitted at.
    pub submitted_at: u64,
    /// Where it stands.
    pub status: MessageStatus,
}

/// Our cocoon wallet as last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletView {
    /// Seqno (0 while not deployed).
    pub seqno: u32,
    /// Balance.
    pub balance: NanoTon,
}

/// Everything the reads are served from.
pub(crate) struct Snapshot {
    pub block: Option<BlockRef>,
    pub root: RootTracker,
    pub root_error: Option<String>,
    pub wallet: Option<WalletView>,
    pub wallet_last_tx: Option<TxId>,
    pub watched: BTreeMap<String, (TonAddress, Watched)>,
    pub messages: BTreeMap<MessageTicket, PendingMessage>,
    pub confirmed_order: VecDeque<MessageTicket>,
    pub last_success: Option<tokio::time::Instant>,
    pub last_error: Option<String>,
}

pub(crate) fn not_synced(address: &TonAddress) -> LedgerError {
    LedgerError::Storage(format!(
        "{} is not synced from the chain yet; it is watched now, retry after the next refresh",
        address.to_hex()
    ))
}

impl Snapshot {
    pub fn new(is_test: bool) -> Snapshot {
        Snapshot {
            block: None,
            root: RootTracker::new(is_test),
            root_error: None,
            wallet: None,
            wallet_last_tx: None,
            watched: BTreeMap::new(),
            messages: BTreeMap::new(),
            confirmed_order: VecDeque::new(),
            last_success: None,
            last_error: None,
        }
    }

    /// Reads `address` every round for [`HOT_FOR`] (if watched).
    pub fn heat(&mut self, address: &TonAddress, now: tokio::time::Instant) {
        if let Some((_, w)) = self.watched.get_mut(&address.to_hex()) {
            w.hot_until = Some(now + HOT_FOR);
        }
    }

    /// Hex addresses of the client and worker contracts whose changes are notified to a
    /// proxy contract signed by `proxy_key` (our own proxy contracts).
    pub fn reported_contracts(&self, proxy_key: Option<&[u8; 32]>) -> BTreeSet<String> {
        let Some(key) = proxy_key else {
            return BTreeSet::new();
        };
        let ours: BTreeSet<&str> = self
            .watched
            .iter()
            .filter(|(_, (_, w))| {
                matches!(&w.parsed, Some(Parsed::Proxy(p)) if &p.state.public_key == key)
            })
            .map(|(hex, _)| hex.as_str())
            .collect();
        self.watched
            .iter()
            .filter(|(_, (_, w))| match &w.parsed {
                Some(Parsed::Client(c)) => ours.contains(c.proxy_sc.as_str()),
                Some(Parsed::Worker(c)) => ours.contains(c.proxy_sc.as_str()),
                _ => false,
            })
            .map(|(hex, _)| hex.clone())
            .collect()
    }

    /// Starts watching `address` (no-op when already watched).
    pub fn watch(&mut self, address: &TonAddress, kind: WatchKind) {
        self.watched
            .entry(address.to_hex())
            .or_insert_with(|| (address.clone(), Watched::new(kind)));
    }

    /// The synced view of `address` as `kind`, watching it when new.
    pub fn synced(
        &mut self,
        address: &TonAddress,
        kind: WatchKind,
    ) -> Result<&mut Watched, LedgerError> {
        self.watch(address, kind);
        let (_, w) = self
            .watched
            .get_mut(&address.to_hex())
            .ok_or_else(|| not_synced(address))?;
        if w.kind != kind && kind != WatchKind::Plain {
            return Err(LedgerError::Invalid(format!(
                "{} is watched as a {:?} contract, not a {kind:?} one",
                address.to_hex(),
                w.kind
            )));
        }
        if !w.synced {
            return Err(not_synced(address));
        }
        if let Some(e) = &w.parse_error {
            return Err(LedgerError::Storage(format!(
                "{}: undecodable contract data: {e}",
                address.to_hex()
            )));
        }
        Ok(w)
    }

    pub fn proxy(&mut self, address: &TonAddress) -> Result<ProxyContractState, LedgerError> {
        let w = self.synced(address, WatchKind::Proxy)?;
        match &w.parsed {
            Some(Parsed::Proxy(data)) => {
                let mut state = data.state.clone();
                // What the contract holds is its TON balance (not in the data cell).
                state.funds = w.balance;
                state.saved_states = w.saved_states.clone();
                state.registrations = w.registrations.clone();
                Ok(state)
            }
            _ => Err(LedgerError::UnknownContract(address.to_hex())),
        }
    }

    pub fn client(&mut self, address: &TonAddress) -> Result<ClientContractState, LedgerError> {
        match &self.synced(address, WatchKind::Client)?.parsed {
            Some(Parsed::Client(state)) => Ok(state.clone()),
            _ => Err(LedgerError::UnknownContract(address.to_hex())),
        }
    }

    pub fn worker(&mut self, address: &TonAddress) -> Result<WorkerContractState, LedgerError> {
        let w = self.synced(address, WatchKind::Worker)?;
        match &w.parsed {
            Some(Parsed::Worker(state)) => Ok(WorkerContractState {
                payouts_bounced: w.payouts_bounced,
                ..state.clone()
            }),
            _ => Err(LedgerError::UnknownContract(address.to_hex())),
        }
    }

    /// Whether `address` is known to be deployed.
    pub fn deployed(&self, address: &TonAddress) -> bool {
        self.watched
            .get(&address.to_hex())
            .is_some_and(|(_, w)| w.parsed.is_some())
    }

    /// Records that `tickets` were confirmed at `utime`; their destinations are read every
    /// round for a while (the message lands there a few blocks later).
    pub fn confirm(&mut self, tickets: &[MessageTicket], utime: u64) {
        let now = tokio::time::Instant::now();
        for ticket in tickets {
            if let Some(m) = self.messages.get_mut(ticket) {
                m.status = MessageStatus::Confirmed { utime };
                self.confirmed_order.push_back(*ticket);
                let dest = m.dest.clone();
                self.heat(&dest, now);
            }
        }
        while self.confirmed_order.len() > CONFIRMED_KEPT {
            if let Some(old) = self.confirmed_order.pop_front() {
                self.messages.remove(&old);
            }
        }
    }

    /// Sets the status of `tickets`.
    pub fn set_status(&mut self, tickets: &[MessageTicket], status: MessageStatus) {
        for ticket in tickets {
            if let Some(m) = self.messages.get_mut(ticket) {
                m.status = status;
            }
        }
    }
}
