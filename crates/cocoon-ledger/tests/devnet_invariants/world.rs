//! The test world: two ledger instances on one file, the test's own books, and one step
//! with its precondition and exact-effect checks.

use std::collections::BTreeMap;
use std::path::Path;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::{ContractStatus, DevnetLedger, Ledger, LedgerError, SavedState};
use cocoon_ledger::root_config::RootConfig;
use proptest::prelude::*;
use tonlib_core::TonAddress;

use cocoon_ledger::voucher::VoucherKind;

use crate::common::{proxy_key, voucher, wallet};
use crate::ops::{Op, Pick, Setup, Step, Who, SLOTS};

/// Money the faucet handed out, and the contracts deployed, by slot.
#[derive(Default)]
pub struct Books {
    pub minted: NanoTon,
    pub proxies: [Option<TonAddress>; SLOTS],
    pub clients: BTreeMap<(usize, usize), TonAddress>,
    pub workers: BTreeMap<(usize, usize), TonAddress>,
}

pub fn proxy_owner(p: usize) -> TonAddress {
    wallet(0x10 + p as u8)
}
pub fn client_owner(c: usize) -> TonAddress {
    wallet(0x20 + c as u8)
}
pub fn worker_owner(w: usize) -> TonAddress {
    wallet(0x30 + w as u8)
}
pub fn stranger() -> TonAddress {
    wallet(0x99)
}
/// An address no contract has.
pub fn nowhere() -> TonAddress {
    wallet(0xEE)
}

pub struct World {
    pub setup: Setup,
    pub config: RootConfig,
    pub path: std::path::PathBuf,
    pub ledgers: [DevnetLedger; 2],
    pub books: Books,
}

pub fn open(path: &Path, config: &RootConfig) -> DevnetLedger {
    DevnetLedger::open_or_create(path, config.clone()).expect("open devnet")
}

pub fn wallet_of(s: &DevnetSnapshot, address: &TonAddress) -> NanoTon {
    s.wallets.get(&address.to_hex()).copied().unwrap_or(0)
}

impl World {
    pub fn new(setup: Setup, path: std::path::PathBuf) -> World {
        let mut config = RootConfig::devnet_default();
        config.params.price_per_token = setup.price;
        config.params.worker_fee_per_token = setup.fee;
        config.params.proxy_delay_before_close = setup.proxy_delay;
        config.params.client_delay_before_close = setup.client_delay;
        let ledgers = [open(&path, &config), open(&path, &config)];
        World {
            setup,
            config,
            path,
            ledgers,
            books: Books::default(),
        }
    }

    pub fn price(&self) -> NanoTon {
        NanoTon::from(self.setup.price)
    }
    pub fn amount(&self, units: u64, extra: u64) -> NanoTon {
        NanoTon::from(units) * self.price() + NanoTon::from(extra)
    }
    pub fn proxy_sc(&self, p: usize) -> TonAddress {
        self.books.proxies[p].clone().unwrap_or_else(nowhere)
    }
    pub fn client_sc(&self, c: usize, p: usize) -> TonAddress {
        self.books
            .clients
            .get(&(c, p))
            .cloned()
            .unwrap_or_else(nowhere)
    }
    pub fn worker_sc(&self, w: usize, p: usize) -> TonAddress {
        self.books
            .workers
            .get(&(w, p))
            .cloned()
            .unwrap_or_else(nowhere)
    }
    pub fn sender(&self, owner: TonAddress, as_owner: bool) -> TonAddress {
        if as_owner {
            owner
        } else {
            stranger()
        }
    }

    /// A voucher of `kind` for the total `tokens` picks, relative to `settled`, signed by
    /// proxy `p`'s key (a stranger's if `forged`).
    fn signed(
        &self,
        kind: VoucherKind,
        target: &TonAddress,
        p: usize,
        settled: u64,
        tokens: Pick,
        forged: bool,
    ) -> Vec<u8> {
        let total = tokens.resolve(settled);
        let key = proxy_key(if forged { 0x77 } else { 0x50 + p as u8 });
        voucher(&key, kind, total, target, u64::from(total as u32))
    }

    /// Runs one step. What it does is the contract model's business (`cocoon_ledger::
    /// contracts`, checked against the real contracts in `cocoon-ton`'s differential test);
    /// here: a forged voucher, a stranger in an owner operation and an unknown contract are
    /// refused, a refused step changes nothing, both instances agree, and the invariants
    /// of [`World::check_invariants`] hold.
    pub fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let before = self.ledgers[step.via]
            .try_devnet_snapshot()
            .expect("snapshot");
        let l = &self.ledgers[step.via];
        let now = before.clock;
        let known_client = |sc: &TonAddress| before.clients.get(&sc.to_hex()).cloned();
        let known_worker = |sc: &TonAddress| before.workers.get(&sc.to_hex()).cloned();
        // `Some(false)`: must be refused; `None`: the model decides.
        let (expect_ok, result): (Option<bool>, Result<(), LedgerError>) = match step.op.clone() {
            Op::Fund { who, units, tons } => {
                let to = match who {
                    Who::ProxyOwner(i) => proxy_owner(i),
                    Who::ClientOwner(i) => client_owner(i),
                    Who::WorkerOwner(i) => worker_owner(i),
                    Who::Stranger => stranger(),
                };
                let amount = self.amount(units, 0) + NanoTon::from(tons) * ONE_TON;
                let r = l.devnet_fund(&to, amount);
                if r.is_ok() {
                    self.books.minted += amount;
                }
                (Some(true), r)
            }
            Op::DeployProxy { p, stake_delta } => {
                let stake = ONE_TON
                    .checked_add_signed(i128::from(stake_delta))
                    .expect("stake");
                let owner = proxy_owner(p);
                let ok = self.books.proxies[p].is_none()
                    && stake >= ONE_TON
                    && wallet_of(&before, &owner) >= stake;
                let r = l.proxy_deploy(&owner, &proxy_key(0x50 + p as u8).verifying_key(), stake);
                if let Ok(sc) = &r {
                    self.books.proxies[p] = Some(sc.clone());
                    let st = l.proxy_state(sc).expect("proxy");
                    prop_assert_eq!((st.stake, st.funds, st.commission), (stake, stake, 0));
                }
                (Some(ok), r.map(|_| ()))
            }
            Op::DeployClient { c, p } => {
                let ok =
                    self.books.proxies[p].is_some() && !self.books.clients.contains_key(&(c, p));
                let r = l.client_deploy(&client_owner(c), &self.proxy_sc(p));
                if let Ok(sc) = &r {
                    self.books.clients.insert((c, p), sc.clone());
                    // Init data: balance 0, the stake a figure of min_client_stake.
                    let st = l.client_state(sc).expect("client");
                    prop_assert_eq!(
                        (st.balance, st.stake),
                        (0, self.config.params.min_client_stake)
                    );
                }
                (Some(ok), r.map(|_| ()))
            }
            Op::DeployWorker { w, p } => {
                let ok =
                    self.books.proxies[p].is_some() && !self.books.workers.contains_key(&(w, p));
                let r = l.worker_deploy(&worker_owner(w), &self.proxy_sc(p));
                if let Ok(sc) = &r {
                    self.books.workers.insert((w, p), sc.clone());
                }
                (Some(ok), r.map(|_| ()))
            }
            Op::TopUp {
                c,
                p,
                units,
                extra,
                owner,
            } => {
                // Anyone may top up; the sender pays.
                let sc = self.client_sc(c, p);
                let sender = self.sender(client_owner(c), owner);
                let amount = self.amount(units, extra);
                let must_fail = known_client(&sc).is_none() || wallet_of(&before, &sender) < amount;
                (
                    must_fail.then_some(false),
                    l.client_top_up(&sender, &sc, amount),
                )
            }
            Op::IncreaseStake {
                c,
                p,
                units,
                extra,
                owner,
            } => {
                let sc = self.client_sc(c, p);
                let amount = self.amount(units, extra);
                let must_fail = known_client(&sc).is_none() || !owner;
                let r = l.client_increase_stake(&self.sender(client_owner(c), owner), &sc, amount);
                if r.is_ok() {
                    // A figure only: no money moves.
                    let after = l.devnet_snapshot();
                    prop_assert_eq!(&after.wallets, &before.wallets);
                    prop_assert_eq!(&after.proxies, &before.proxies);
                }
                (must_fail.then_some(false), r)
            }
            Op::Charge {
                c,
                p,
                tokens,
                forged,
            } => {
                let sc = self.client_sc(c, p);
                let st = known_client(&sc);
                let settled = st.as_ref().map_or(0, |s| s.tokens_used);
                let bytes = self.signed(VoucherKind::ClientCharge, &sc, p, settled, tokens, forged);
                let r = l.client_charge(&sc, &bytes);
                if let (Ok(settlement), Some(st)) = (&r, &st) {
                    // No money moves and no commission is booked at charge time.
                    let after = l.devnet_snapshot();
                    prop_assert_eq!(&after.wallets, &before.wallets);
                    prop_assert_eq!(&after.proxies, &before.proxies);
                    let now_c = &after.clients[&sc.to_hex()];
                    prop_assert_eq!(st.balance - now_c.balance, settlement.amount);
                }
                ((st.is_none() || forged).then_some(false), r.map(|_| ()))
            }
            Op::GrantRefund {
                c,
                p,
                tokens,
                forged,
            } => {
                let sc = self.client_sc(c, p);
                let st = known_client(&sc);
                let settled = st.as_ref().map_or(0, |s| s.tokens_used);
                let bytes = self.signed(
                    VoucherKind::ClientGrantRefund,
                    &sc,
                    p,
                    settled,
                    tokens,
                    forged,
                );
                let r = l.client_grant_refund(&sc, &bytes);
                if r.is_ok() {
                    let after = l.client_state(&sc).expect("client");
                    prop_assert_eq!((after.status, after.balance), (ContractStatus::Closed, 0));
                }
                ((st.is_none() || forged).then_some(false), r.map(|_| ()))
            }
            Op::Payout {
                w,
                p,
                tokens,
                forged,
            }
            | Op::LastPayout {
                w,
                p,
                tokens,
                forged,
            } => {
                let last = matches!(step.op, Op::LastPayout { .. });
                let sc = self.worker_sc(w, p);
                let st = known_worker(&sc);
                let settled = st.as_ref().map_or(0, |s| s.tokens);
                let kind = if last {
                    VoucherKind::WorkerLastPayout
                } else {
                    VoucherKind::WorkerPayout
                };
                let bytes = self.signed(kind, &sc, p, settled, tokens, forged);
                let r = if last {
                    l.worker_last_payout(&sc, &bytes)
                } else {
                    l.worker_payout(&sc, &bytes)
                };
                if let (Ok(paid), Some(st)) = (&r, &st) {
                    // The worker counts the tokens even when its proxy cannot pay.
                    let after = l.worker_state(&sc).expect("worker");
                    prop_assert_eq!(after.tokens - st.tokens, paid.tokens);
                    let o = worker_owner(w);
                    prop_assert_eq!(
                        l.wallet_balance(&o).expect("wallet"),
                        wallet_of(&before, &o) + paid.amount
                    );
                }
                ((st.is_none() || forged).then_some(false), r.map(|_| ()))
            }
            Op::SaveState { p, seqno, owner } => {
                let sc = self.proxy_sc(p);
                let ok = owner
                    && before.proxies.get(&sc.to_hex()).is_some_and(|st| {
                        st.status != ContractStatus::Closed
                            && st.saved_states.last().is_none_or(|last| last.seqno < seqno)
                    });
                let r = l.proxy_save_state(
                    &self.sender(proxy_owner(p), owner),
                    &sc,
                    SavedState {
                        seqno,
                        session_hash: [seqno as u8; 32],
                    },
                );
                (Some(ok), r)
            }
            Op::ProxyPayout { p, owner } => {
                // Anyone may ask; the commission goes to the owner.
                let sc = self.proxy_sc(p);
                let r = l.proxy_payout(&self.sender(proxy_owner(p), owner), &sc);
                if let Ok(amount) = &r {
                    prop_assert_eq!(*amount, before.proxies[&sc.to_hex()].commission);
                    let o = proxy_owner(p);
                    prop_assert_eq!(
                        l.wallet_balance(&o).expect("wallet"),
                        wallet_of(&before, &o) + amount
                    );
                }
                (
                    (!before.proxies.contains_key(&sc.to_hex())).then_some(false),
                    r.map(|_| ()),
                )
            }
            Op::Refund { c, p, owner } | Op::Withdraw { c, p, owner } => {
                let withdraw = matches!(step.op, Op::Withdraw { .. });
                let sc = self.client_sc(c, p);
                let sender = self.sender(client_owner(c), owner);
                let r = if withdraw {
                    l.client_withdraw(&sender, &sc).map(|_| ())
                } else {
                    l.client_request_refund(&sender, &sc).map(|_| ())
                };
                if let (Ok(()), Some(st)) = (&r, known_client(&sc)) {
                    let after = l.client_state(&sc).expect("client");
                    if st.status == ContractStatus::Active {
                        // Only the money above the stake comes back; the stake stays in.
                        prop_assert_eq!(after.balance, st.balance.min(st.stake));
                    } else {
                        prop_assert_eq!((after.status, after.balance), (ContractStatus::Closed, 0));
                    }
                    prop_assert!(now > st.unlock_ts || st.status == ContractStatus::Active);
                }
                ((known_client(&sc).is_none() || !owner).then_some(false), r)
            }
            Op::ProxyClose { p, owner } | Op::ProxyComplete { p, owner } => {
                let complete = matches!(step.op, Op::ProxyComplete { .. });
                let sc = self.proxy_sc(p);
                let sender = self.sender(proxy_owner(p), owner);
                let r = if complete {
                    l.proxy_complete_close(&sender, &sc)
                } else {
                    l.proxy_request_close(&sender, &sc).map(|_| 0)
                };
                if let (true, Ok(amount)) = (complete, &r) {
                    // Everything the proxy held goes to its owner.
                    prop_assert_eq!(*amount, before.proxies[&sc.to_hex()].funds);
                }
                let unknown = !before.proxies.contains_key(&sc.to_hex());
                ((unknown || !owner).then_some(false), r.map(|_| ()))
            }
            Op::Advance { seconds } => {
                let r = l.devnet_advance_clock(seconds);
                if let Ok(clock) = &r {
                    prop_assert_eq!(*clock, now + seconds);
                }
                (Some(true), r.map(|_| ()))
            }
            Op::Reopen => {
                self.ledgers[step.via] = open(&self.path, &self.config);
                let reopened = self.ledgers[step.via]
                    .try_devnet_snapshot()
                    .expect("snapshot");
                prop_assert_eq!(&reopened, &before, "reopen changed the state");
                (Some(true), Ok(()))
            }
        };
        if let Some(expected) = expect_ok {
            prop_assert_eq!(result.is_ok(), expected, "{:?} gave {:?}", step.op, result);
        }
        let after = self.ledgers[1 - step.via]
            .try_devnet_snapshot()
            .expect("snapshot");
        prop_assert_eq!(
            &after,
            &self.ledgers[step.via]
                .try_devnet_snapshot()
                .expect("snapshot")
        );
        if result.is_err() || matches!(step.op, Op::Reopen) {
            prop_assert_eq!(&after, &before, "a refused step changed the state");
        }
        self.check_invariants(&after)
    }
}
