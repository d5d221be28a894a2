//! The proxy's payment accounting (runners.md §6.1–§6.3), first slice, **devnet**.
//!
//! Per client owner and per worker owner the proxy keeps the three monotone counters of
//! [`cocoon_ledger::accounting::CommitCounters`]; each finished request adds its adjusted
//! tokens to both sides ([`ProxyPayments::settle`]). Vouchers are real: signed with the
//! proxy key (`machine_specific_private_key`) and addressed to the client / worker contract
//! derived from the devnet placeholder codes ([`cocoon_ledger::address`]), and — as in the
//! reference — they only ever cover `tokens_committed_to_blockchain`.
//!
//! Devnet simplification: there is no chain to watch, so every DB flush is treated as
//! immediately committed on chain (`commit_to_db(n)` is followed at once by
//! `confirm_on_chain(n)`), and the proxy flushes after every settled request.
//!
//! With books ([`ProxyPayments::attach_books`]) each flush is one durable, sealed commit in
//! [`super::books`]; the counters are restored from them at start.
//!
//! Not done yet: balance reservations against the client contract's chain view (the
//! fake-TON root has no balances).

use std::collections::BTreeMap;

use cocoon_ledger::accounting::CommitCounters;
use cocoon_ledger::address::{
    derive_contract_address, devnet_placeholder_codes, parse_address, ContractSpec,
};
use cocoon_ledger::ledger::devnet::devnet_root_address;
use cocoon_ledger::root_config::{ContractCodes, RootConfig, RootParams};
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_wire::schema::{enums, types};
use ed25519_dalek::SigningKey;
use tonlib_core::TonAddress;
use tracing::warn;

use super::books::{ProxyBooks, Row};

/// What the proxy tells a client or worker about its account (the `signed_payment`,
/// `db_tokens`, `max_tokens` triple of every payment message).
#[derive(Debug, Clone)]
pub struct PaymentSnapshot {
    /// The voucher for `tokens_committed_to_blockchain`, or `signedPaymentEmpty` when
    /// there is nothing to pay yet or vouchers cannot be signed.
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

/// The contract context vouchers are addressed in (devnet placeholder codes and params).
#[derive(Debug)]
struct Contracts {
    key: SigningKey,
    codes: ContractCodes,
    params: RootParams,
    proxy_sc: TonAddress,
    /// The proxy's wallet, written as the (unsigned) `excess_to` of every voucher.
    excess_to: TonAddress,
}

/// One client or worker owner.
#[derive(Debug, Default)]
struct Party {
    counters: CommitCounters,
    /// The voucher signed for the current `committed_to_blockchain` (tokens, BoC).
    voucher: Option<(u64, Vec<u8>)>,
}

/// Counters and vouchers of one proxy.
#[derive(Debug)]
pub struct ProxyPayments {
    contracts: Option<Contracts>,
    clients: BTreeMap<String, Party>,
    workers: BTreeMap<String, Party>,
    /// Last DB flush seqno (devnet: also the last seqno "seen on chain").
    seqno: u64,
    /// Durable books; `None` = counters in memory only.
    books: Option<ProxyBooks>,
}

/// Which side of a request a party is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A client owner (charged; client contract, `ext_client_charge_signed`).
    Client,
    /// A worker owner (paid; worker contract, `ext_worker_payout_request_signed`).
    Worker,
}

impl ProxyPayments {
    /// Payments of a proxy owned by `owner_address` under root `root_address` (empty or
    /// unparsable: the devnet root). Without a signing key or with an unparsable owner the
    /// counters are still kept but every voucher is `signedPaymentEmpty` and every contract
    /// address empty.
    pub fn new(key: Option<SigningKey>, owner_address: &str, root_address: &str) -> Self {
        let contracts =
            key.and_then(
                |key| match Contracts::new(key, owner_address, root_address) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        warn!(error = %e, "payments: vouchers disabled");
                        None
                    }
                },
            );
        ProxyPayments {
            contracts,
            clients: BTreeMap::new(),
            workers: BTreeMap::new(),
            seqno: 0,
            books: None,
        }
    }

    /// Persists the counters in `books` from now on, restoring the stored ones (they count
    /// as committed to the DB and, on the devnet, on chain at the books' seqno).
    pub fn attach_books(&mut self, books: ProxyBooks) {
        let seqno = books.seqno();
        let (clients, workers) = books.stored();
        for (owner, tokens) in clients {
            self.clients.insert(owner, Party::restored(tokens, seqno));
        }
        for (owner, tokens) in workers {
            self.workers.insert(owner, Party::restored(tokens, seqno));
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

    /// The contract address of `owner` on `side` (raw `0:hex`), empty when unknown.
    pub fn sc_address(&self, side: Side, owner: &str) -> String {
        self.contracts
            .as_ref()
            .and_then(|c| c.party_address(side, owner).ok())
            .map(|a| a.to_hex())
            .unwrap_or_default()
    }

    /// Settles one finished request: adds `tokens` to the client's and the worker's
    /// `tokens_max`, then flushes (devnet: committed to DB and on chain at once).
    pub fn settle(&mut self, client: &str, worker: &str, tokens: u64) {
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
        self.flush();
    }

    /// Records every changed party's `tokens_max` at a new DB seqno (a durable commit when
    /// books are attached); on the devnet that seqno counts as seen on chain immediately,
    /// so `committed_to_blockchain` follows. A failed books write leaves the counters
    /// uncommitted (vouchers stay at the previous commit) and is retried next time.
    pub fn flush(&mut self) {
        let changed = |parties: &BTreeMap<String, Party>| -> Vec<String> {
            parties
                .iter()
                .filter(|(_, p)| p.counters.tokens_max() > p.counters.committed_to_db())
                .map(|(owner, _)| owner.clone())
                .collect()
        };
        let (changed_clients, changed_workers) = (changed(&self.clients), changed(&self.workers));
        if changed_clients.is_empty() && changed_workers.is_empty() {
            return;
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
                        return;
                    }
                }
            }
        };
        self.seqno = seqno;
        for party in self.clients.values_mut().chain(self.workers.values_mut()) {
            if party.counters.commit_to_db(seqno).is_ok() {
                party.counters.confirm_on_chain(seqno);
            }
        }
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

    /// The cached or newly signed voucher BoC for `tokens` (none for 0 tokens).
    fn voucher(&mut self, side: Side, owner: &str, tokens: u64) -> Option<Vec<u8>> {
        if tokens == 0 {
            return None;
        }
        let contracts = self.contracts.as_ref()?;
        let party = match side {
            Side::Client => self.clients.get_mut(owner)?,
            Side::Worker => self.workers.get_mut(owner)?,
        };
        if let Some((cached, boc)) = &party.voucher {
            if *cached == tokens {
                return Some(boc.clone());
            }
        }
        match contracts.sign(side, owner, tokens) {
            Ok(boc) => {
                party.voucher = Some((tokens, boc.clone()));
                Some(boc)
            }
            Err(e) => {
                warn!(owner, error = %e, "payments: cannot sign a voucher");
                None
            }
        }
    }
}

impl Party {
    fn restored(tokens: u64, seqno: u64) -> Party {
        Party {
            counters: CommitCounters::restored(tokens, seqno),
            voucher: None,
        }
    }
}

impl Contracts {
    fn new(key: SigningKey, owner_address: &str, root_address: &str) -> Result<Self, String> {
        let owner = parse_address(owner_address)
            .map_err(|e| format!("proxy owner address: {e}"))?
            .address;
        let root = parse_address(root_address)
            .map(|a| a.address)
            .unwrap_or_else(|_| devnet_root_address());
        let codes = devnet_placeholder_codes().map_err(|e| e.to_string())?;
        let params = RootConfig::devnet_default().params;
        let proxy_sc = derive_contract_address(
            ContractSpec::Proxy {
                owner: &owner,
                root: &root,
            },
            &key.verifying_key(),
            &params,
            &codes,
        )
        .map_err(|e| e.to_string())?;
        Ok(Contracts {
            key,
            codes,
            params,
            proxy_sc,
            excess_to: owner,
        })
    }

    /// The client / worker contract of the wallet `owner` at our proxy contract.
    fn party_address(&self, side: Side, owner: &str) -> Result<TonAddress, String> {
        let owner = parse_address(owner).map_err(|e| e.to_string())?.address;
        let spec = match side {
            Side::Client => ContractSpec::Client {
                owner: &owner,
                proxy_sc: &self.proxy_sc,
            },
            Side::Worker => ContractSpec::Worker {
                owner: &owner,
                proxy_sc: &self.proxy_sc,
            },
        };
        derive_contract_address(spec, &self.key.verifying_key(), &self.params, &self.codes)
            .map_err(|e| e.to_string())
    }

    fn sign(&self, side: Side, owner: &str, tokens: u64) -> Result<Vec<u8>, String> {
        let terms = VoucherTerms {
            kind: voucher_kind(side),
            qid: rand::random(),
            tokens,
            target: self.party_address(side, owner)?,
        };
        voucher::sign(&self.key, terms, &self.excess_to)
            .map(|v| v.boc)
            .map_err(|e| e.to_string())
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
