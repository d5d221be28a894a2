//! The proxy's payment accounting (runners.md §6.1–§6.3).
//!
//! Per client owner and per worker owner the proxy keeps the three monotone counters of
//! [`cocoon_ledger::accounting::CommitCounters`]; each finished request adds its adjusted
//! tokens to both sides ([`ProxyPayments::settle`]). Vouchers are real: signed with the
//! proxy key (`machine_specific_private_key`) and addressed to the client / worker contract
//! derived in the proxy's contract context ([`cocoon_ledger::ledger::ContractContext`]: the
//! ledger's, or the fake-TON root file's), and — as in the
//! reference — they only ever cover `tokens_committed_to_blockchain`.
//!
//! Two commit modes:
//! * **Without a ledger** (fake TON, runners.md §6.10): a settled request is flushed at once,
//!   or at most once per period with [`ProxyPayments::throttle_flushes`] (the proxy's
//!   setting; a timer flushes the rest), and each flush counts as committed on chain
//!   immediately.
//! * **With a ledger** ([`ProxyPayments::require_chain_confirmation`]): settling only raises
//!   `tokens_max`; [`ProxyPayments::flush`] (called on a timer) records a DB seqno, and
//!   `committed_to_blockchain` moves only through [`ProxyPayments::confirm_on_chain`], which
//!   the money loop calls after it has read its own `save_state` back from the ledger
//!   (see [`super::money`]).
//!
//! With books ([`ProxyPayments::attach_books`]) each flush is one durable, sealed commit in
//! [`super::books`]; the counters and the last chain view of every client (balance, stake —
//! the stored one, not a default, §13.12 — and tokens charged) are restored from them.
//!
//! [`reserve`] holds the per-client reservations against the client contract's chain view.

mod contracts;
pub mod reserve;
mod retire;

use std::collections::BTreeMap;

use cocoon_ledger::accounting::CommitCounters;
use cocoon_ledger::ledger::ContractContext;
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::VoucherKind;
use cocoon_wire::schema::{enums, types};
use ed25519_dalek::SigningKey;
use tonlib_core::TonAddress;
use tracing::warn;

use super::books::{ProxyBooks, Row, StoredParty};
use contracts::Contracts;
pub use reserve::{ClientChain, ReserveError};

/// What the proxy tells a client or worker about its account (the `signed_payment`,
/// `db_tokens`, `max_tokens` triple of every payment message).
#[derive(Debug, Clone)]
pub struct PaymentSnapshot {
    /// The voucher for `tokens_committed_to_blockchain` (0 included), or
    /// `signedPaymentEmpty` when vouchers cannot be signed.
    pub signed_payment: enums::proxy::SignedPayment,
    /// `tokens_committed_to_blockchain`.
    pub blockchain_tokens: i64,
    /// `tokens_committed_to_db`.
    pub db_tokens: i64,
    /// `tokens_max`.
    pub max_tokens: i64,
}

/// Token counters of one party, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CounterView {
    /// `tokens_max`.
    pub tokens_max: u64,
    /// `tokens_committed_to_db`.
    pub committed_to_db: u64,
    /// `tokens_committed_to_blockchain` (what vouchers cover).
    pub committed_to_blockchain: u64,
}

/// One client or worker owner.
#[derive(Debug, Default)]
struct Party {
    counters: CommitCounters,
    /// The voucher signed for the current `committed_to_blockchain` (tokens, BoC).
    voucher: Option<(u64, Vec<u8>)>,
    /// Clients: tokens reserved by running requests.
    reserved: u64,
    /// Clients: the last chain view of the client contract.
    client_chain: Option<ClientChain>,
    /// Workers: tokens already paid out on chain (the worker contract's counter).
    worker_paid: Option<u64>,
}

/// Counters and vouchers of one proxy.
#[derive(Debug)]
pub struct ProxyPayments {
    contracts: Option<Contracts>,
    clients: BTreeMap<String, Party>,
    workers: BTreeMap<String, Party>,
    /// Without a ledger: settle flushes at most once per this period (zero: every
    /// settle); a timer flushes what is left ([`Self::flush_if_due`]).
    flush_every: std::time::Duration,
    /// When the last flush wrote a commit.
    last_flush: Option<std::time::Instant>,
    /// Last DB flush seqno.
    seqno: u64,
    /// Durable books; `None` = counters in memory only.
    books: Option<ProxyBooks>,
    /// A ledger confirms commits (see the module doc); `false` = fake-TON behaviour.
    chain_confirmed: bool,
    /// The contract was retired ([`Self::retire_contract`]): the counters are gone and
    /// nothing settles or flushes any more (the proxy restarts on its new contract).
    retired: bool,
    /// Our contract holds less than the workers are owed: no worker voucher above the one
    /// already signed (or above what is paid on chain) is signed ([`Self::hold_worker_vouchers`]).
    worker_vouchers_held: bool,
}

/// Which side of a request a party is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// A client owner (charged; client contract, `ext_client_charge_signed`).
    Client,
    /// A worker owner (paid; worker contract, `ext_worker_payout_request_signed`).
    Worker,
}

impl ProxyPayments {
    /// Payments of a proxy owned by `owner_address` under root `root_address` (empty or
    /// unparsable: the devnet root), in the **devnet** default contract context (tests and
    /// tools). Without a signing key or with an unparsable owner the counters are still kept
    /// but every voucher is `signedPaymentEmpty` and every contract address empty.
    pub fn new(key: Option<SigningKey>, owner_address: &str, root_address: &str) -> Self {
        let ctx = ContractContext::devnet(RootConfig::devnet_default().params).map(|mut ctx| {
            if let Ok(root) = cocoon_ledger::address::parse_address(root_address) {
                ctx.root = root.address;
            }
            ctx
        });
        match ctx {
            Ok(ctx) => Self::with_context(key, owner_address, ctx),
            Err(e) => {
                warn!(error = %e, "payments: vouchers disabled");
                Self::from_contracts(None)
            }
        }
    }

    /// [`ProxyPayments::new`] in the contract context `ctx` (a ledger's, so the addresses
    /// equal the ledger's, or the fake-TON root config's, as reference peers derive them).
    pub fn with_context(
        key: Option<SigningKey>,
        owner_address: &str,
        ctx: ContractContext,
    ) -> Self {
        let contracts = key.and_then(|key| match Contracts::new(key, owner_address, ctx) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(error = %e, "payments: vouchers disabled");
                None
            }
        });
        Self::from_contracts(contracts)
    }

    fn from_contracts(contracts: Option<Contracts>) -> Self {
        ProxyPayments {
            flush_every: std::time::Duration::ZERO,
            last_flush: None,
            contracts,
            clients: BTreeMap::new(),
            workers: BTreeMap::new(),
            seqno: 0,
            books: None,
            chain_confirmed: false,
            retired: false,
            worker_vouchers_held: false,
        }
    }

    /// From now on a commit counts as on chain only through [`Self::confirm_on_chain`],
    /// and settling no longer flushes. Call before [`Self::attach_books`], so restored
    /// counters wait for the first confirmation too.
    pub fn require_chain_confirmation(&mut self) {
        self.chain_confirmed = true;
    }

    /// Whether commits wait for a ledger confirmation.
    pub fn awaits_chain(&self) -> bool {
        self.chain_confirmed
    }

    /// Persists the counters in `books` from now on, restoring the stored ones: they count
    /// as committed to the DB at the books' seqno and — without a ledger, as in the
    /// reference — on chain too; with a ledger they wait for the next confirmed seqno.
    pub fn attach_books(&mut self, books: ProxyBooks) {
        let seqno = books.seqno();
        let (clients, workers) = books.stored();
        let restore = |stored: StoredParty| -> Party {
            let mut counters = CommitCounters::default();
            counters.add(stored.tokens);
            if counters.commit_to_db(seqno).is_ok() && !self.chain_confirmed {
                counters.confirm_on_chain(seqno);
            }
            Party {
                counters,
                client_chain: stored.client_chain.map(ClientChain::restored),
                worker_paid: stored.worker_paid,
                ..Party::default()
            }
        };
        for stored in clients {
            self.clients.insert(stored.owner.clone(), restore(stored));
        }
        for stored in workers {
            self.workers.insert(stored.owner.clone(), restore(stored));
        }
        self.seqno = self.seqno.max(seqno);
        self.books = Some(books);
    }

    /// Whether vouchers are signed (key and contract addresses available).
    pub fn signs_vouchers(&self) -> bool {
        self.contracts.is_some()
    }

    /// Our proxy contract address (raw `0:hex`), empty when vouchers are disabled.
    pub fn proxy_sc_address(&self) -> String {
        self.contracts
            .as_ref()
            .map(|c| c.proxy_sc.to_hex())
            .unwrap_or_default()
    }

    /// Our proxy contract and wallet (`None` when vouchers are disabled).
    pub fn proxy_accounts(&self) -> Option<(TonAddress, TonAddress)> {
        self.contracts
            .as_ref()
            .map(|c| (c.proxy_sc.clone(), c.wallet.clone()))
    }

    /// The contract address of `owner` on `side` (raw `0:hex`), empty when unknown.
    pub fn sc_address(&self, side: Side, owner: &str) -> String {
        self.contract(side, owner)
            .map(|a| a.to_hex())
            .unwrap_or_default()
    }

    /// The contract of `owner` on `side`, if it can be derived.
    pub fn contract(&self, side: Side, owner: &str) -> Option<TonAddress> {
        self.contracts
            .as_ref()
            .and_then(|c| c.party_address(side, owner).ok())
    }

    /// Last DB commit seqno.
    pub fn seqno(&self) -> u64 {
        self.seqno
    }

    /// Without books, lets the next commit seqno start above `seqno` (a restarted proxy
    /// whose contract already saw that seqno); books carry their own sequence.
    pub fn skip_seqnos_to(&mut self, seqno: u64) {
        if self.books.is_none() {
            self.seqno = self.seqno.max(seqno);
        }
    }

    /// Settles one finished request: adds `tokens` to the client's and the worker's
    /// `tokens_max`; without a ledger it then flushes (committed to DB and "on chain").
    pub fn settle(&mut self, client: &str, worker: &str, tokens: u64) {
        if self.retired {
            warn!(
                client,
                worker, tokens, "payments: contract retired; usage not recorded"
            );
            return;
        }
        self.clients
            .entry(client.to_owned())
            .or_default()
            .counters
            .add(tokens);
        self.workers
            .entry(worker.to_owned())
            .or_default()
            .counters
            .add(tokens);
        if !self.chain_confirmed {
            self.flush_if_due();
        }
    }

    /// Without a ledger, flush at most once per `every` (the reference commits every
    /// 1–2 s, runners.md §8); each flush seals the books and re-signs the changed
    /// vouchers, so per-request flushing costs most of the proxy's CPU under load. A
    /// timer must then call [`Self::flush_if_due`] so the last requests get committed.
    pub fn throttle_flushes(&mut self, every: std::time::Duration) {
        self.flush_every = every;
    }

    /// Flushes when the throttle period has passed since the last flush (always when
    /// unthrottled).
    pub fn flush_if_due(&mut self) -> Option<u64> {
        let due = self.flush_every.is_zero()
            || self
                .last_flush
                .is_none_or(|at| at.elapsed() >= self.flush_every);
        if due {
            self.flush()
        } else {
            None
        }
    }

    /// Whether flushes are throttled (a timer must drive them).
    pub fn flush_throttle(&self) -> std::time::Duration {
        self.flush_every
    }

    /// Records every changed party's `tokens_max` at a new DB seqno (a durable commit when
    /// books are attached) and returns that seqno; `None` when nothing changed or the books
    /// write failed (then the counters stay uncommitted and the next flush retries).
    /// Without a ledger the seqno also counts as seen on chain at once.
    pub fn flush(&mut self) -> Option<u64> {
        self.commit(false)
    }

    /// [`Self::flush`], but writes a commit even when nothing changed (the start-up commit
    /// that the first `save_state` of a session names, runners.md §8).
    pub fn flush_always(&mut self) -> Option<u64> {
        self.commit(true)
    }

    fn commit(&mut self, always: bool) -> Option<u64> {
        if self.retired {
            return None;
        }
        let changed = |parties: &BTreeMap<String, Party>| -> Vec<String> {
            parties
                .iter()
                .filter(|(_, p)| p.counters.tokens_max() > p.counters.committed_to_db())
                .map(|(owner, _)| owner.clone())
                .collect()
        };
        let (changed_clients, changed_workers) = (changed(&self.clients), changed(&self.workers));
        if !always && changed_clients.is_empty() && changed_workers.is_empty() {
            return None;
        }
        let seqno = match self.books.as_mut() {
            None => self.seqno + 1,
            Some(books) => {
                let contracts = self.contracts.as_ref();
                let client_rows = rows(contracts, Side::Client, &changed_clients, &self.clients);
                let worker_rows = rows(contracts, Side::Worker, &changed_workers, &self.workers);
                match books.write(&client_rows, &worker_rows) {
                    Ok(seqno) => seqno,
                    Err(e) => {
                        warn!(error = %e, "payments: books flush failed; will retry");
                        return None;
                    }
                }
            }
        };
        self.seqno = seqno;
        self.last_flush = Some(std::time::Instant::now());
        for party in self.clients.values_mut().chain(self.workers.values_mut()) {
            if party.counters.commit_to_db(seqno).is_ok() && !self.chain_confirmed {
                party.counters.confirm_on_chain(seqno);
            }
        }
        Some(seqno)
    }

    /// The proxy saw its `save_state(seqno)` on chain: every party's value recorded at the
    /// highest DB seqno ≤ `seqno` becomes `committed_to_blockchain`. Returns how many
    /// parties' committed counters grew.
    pub fn confirm_on_chain(&mut self, seqno: u64) -> usize {
        self.clients
            .values_mut()
            .chain(self.workers.values_mut())
            .filter_map(|p| p.counters.confirm_on_chain(seqno).then_some(()))
            .count()
    }

    /// The counters of `owner` on `side` (zero for an unknown owner).
    pub fn counters(&self, side: Side, owner: &str) -> CounterView {
        self.parties(side)
            .get(owner)
            .map(|p| CounterView {
                tokens_max: p.counters.tokens_max(),
                committed_to_db: p.counters.committed_to_db(),
                committed_to_blockchain: p.counters.committed_to_blockchain(),
            })
            .unwrap_or_default()
    }

    /// The payment triple for `owner` on `side`, signing a new voucher if the committed
    /// counter moved since the last one.
    pub fn snapshot(&mut self, side: Side, owner: &str) -> PaymentSnapshot {
        let counters = self.counters(side, owner);
        let signed_payment = match self.voucher(side, owner, counters.committed_to_blockchain) {
            Some(data) => {
                enums::proxy::SignedPayment::SignedPayment(types::proxy::SignedPayment { data })
            }
            None => empty_signed_payment(),
        };
        PaymentSnapshot {
            signed_payment,
            blockchain_tokens: to_wire(counters.committed_to_blockchain),
            db_tokens: to_wire(counters.committed_to_db),
            max_tokens: to_wire(counters.tokens_max),
        }
    }

    /// Holds (or releases) worker vouchers: while held, no worker voucher above the one
    /// already signed is signed — the proxy contract could not pay it, and a payout it
    /// cannot pay bounces while the worker contract still counts the tokens as paid
    /// (contracts.md §3.3.1). Returns whether this changed the setting.
    pub fn hold_worker_vouchers(&mut self, held: bool) -> bool {
        let changed = self.worker_vouchers_held != held;
        self.worker_vouchers_held = held;
        changed
    }

    /// Whether worker vouchers are held ([`Self::hold_worker_vouchers`]).
    pub fn worker_vouchers_held(&self) -> bool {
        self.worker_vouchers_held
    }

    /// Tokens committed to workers beyond what their contracts have paid (a worker whose
    /// contract was not read yet counts from 0).
    pub fn tokens_owed_to_workers(&self) -> u64 {
        self.workers
            .values()
            .map(|p| {
                p.counters
                    .committed_to_blockchain()
                    .saturating_sub(p.worker_paid.unwrap_or(0))
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Every owner on `side` with its counters, for stats.
    pub fn all_counters(&self, side: Side) -> Vec<(String, CounterView)> {
        self.parties(side)
            .keys()
            .map(|owner| (owner.clone(), self.counters(side, owner)))
            .collect()
    }

    fn parties(&self, side: Side) -> &BTreeMap<String, Party> {
        match side {
            Side::Client => &self.clients,
            Side::Worker => &self.workers,
        }
    }

    /// The cached or newly signed voucher BoC for `tokens` — for 0 tokens too, as the
    /// reference proxy signs one for every party it knows: the reference worker refuses
    /// `signedPaymentEmpty` in its handshake ("tokens_committed_to_blockchain is too low").
    /// A voucher for a party we hold no counters for yet is signed but not cached.
    fn voucher(&mut self, side: Side, owner: &str, tokens: u64) -> Option<Vec<u8>> {
        let contracts = self.contracts.as_ref()?;
        let held = side == Side::Worker && self.worker_vouchers_held;
        let party = match side {
            Side::Client => self.clients.get_mut(owner),
            Side::Worker => self.workers.get_mut(owner),
        };
        // Held: never above the voucher already signed, or what is paid on chain.
        let tokens = match (held, party.as_ref()) {
            (true, Some(p)) => {
                let ceiling = p
                    .voucher
                    .as_ref()
                    .map(|v| v.0)
                    .or(p.worker_paid)
                    .unwrap_or(0);
                tokens.min(ceiling)
            }
            (true, None) => 0,
            (false, _) => tokens,
        };
        if let Some((cached, boc)) = party.as_ref().and_then(|p| p.voucher.as_ref()) {
            if *cached == tokens {
                return Some(boc.clone());
            }
        }
        match contracts.sign(side, owner, tokens) {
            Ok(boc) => {
                if let Some(party) = party {
                    party.voucher = Some((tokens, boc.clone()));
                }
                Some(boc)
            }
            Err(e) => {
                warn!(owner, error = %e, "payments: cannot sign a voucher");
                None
            }
        }
    }
}

/// The books rows of the `owners` on `side`.
fn rows<'a>(
    contracts: Option<&Contracts>,
    side: Side,
    owners: &'a [String],
    parties: &BTreeMap<String, Party>,
) -> Vec<Row<'a>> {
    owners
        .iter()
        .map(|owner| Row {
            owner,
            sc_address: contracts
                .and_then(|c| c.party_address(side, owner).ok())
                .map(|a| a.to_hex())
                .unwrap_or_default(),
            tokens: parties.get(owner).map_or(0, |p| p.counters.tokens_max()),
            client_chain: parties
                .get(owner)
                .and_then(|p| p.client_chain.as_ref())
                .map(|c| c.view),
            worker_paid: parties.get(owner).and_then(|p| p.worker_paid),
        })
        .collect()
}

/// The voucher kind a party receives per request (client charge / worker payout).
pub fn voucher_kind(side: Side) -> VoucherKind {
    match side {
        Side::Client => VoucherKind::ClientCharge,
        Side::Worker => VoucherKind::WorkerPayout,
    }
}

/// `proxy.signedPaymentEmpty`: no voucher yet.
pub fn empty_signed_payment() -> enums::proxy::SignedPayment {
    enums::proxy::SignedPayment::SignedPaymentEmpty(types::proxy::SignedPaymentEmpty {})
}

/// A counter as a TL `long` (saturating).
fn to_wire(tokens: u64) -> i64 {
    i64::try_from(tokens).unwrap_or(i64::MAX)
}
