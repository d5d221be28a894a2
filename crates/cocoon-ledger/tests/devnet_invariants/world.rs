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

use crate::common::{proxy_key, wallet};
use crate::ops::{Op, Setup, Step, Who, SLOTS};

/// (expected to succeed, what the ledger returned).
pub type Outcome = (bool, Result<(), LedgerError>);

/// Money that left or entered contracts in ways only the op results show.
#[derive(Default)]
pub struct Books {
    pub minted: NanoTon,
    pub proxies: [Option<TonAddress>; SLOTS],
    pub clients: BTreeMap<(usize, usize), TonAddress>,
    pub workers: BTreeMap<(usize, usize), TonAddress>,
    pub deposit: [NanoTon; SLOTS],
    pub stake_returned: [NanoTon; SLOTS],
    pub pool_returned: [NanoTon; SLOTS],
    pub commission_returned: [NanoTon; SLOTS],
    pub commission_paid_out: [NanoTon; SLOTS],
    pub charged: BTreeMap<String, NanoTon>,
    /// Per client contract: what charges beyond its money forgave (tokens × price − moved).
    pub forgiven: BTreeMap<String, NanoTon>,
    /// Per proxy: the forgiven workers' part and commission part of those charges.
    pub forgiven_workers: [NanoTon; SLOTS],
    pub forgiven_commission: [NanoTon; SLOTS],
    pub paid: BTreeMap<String, NanoTon>,
    /// Per worker contract: what its proxy contract could not pay (vouchers used up).
    pub lost: BTreeMap<String, NanoTon>,
    /// Per proxy: the same, summed.
    pub lost_workers: [NanoTon; SLOTS],
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
    pub fn fee(&self) -> NanoTon {
        NanoTon::from(self.setup.fee)
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

    /// Runs one step; checks that it succeeds exactly when its preconditions hold, its
    /// exact effect when it does, and that a refused step changes nothing.
    pub fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let before = self.ledgers[step.via]
            .try_devnet_snapshot()
            .expect("snapshot");
        let l = &self.ledgers[step.via];
        let now = before.clock;
        // (expected to succeed, result) — the numeric effect is checked inline.
        let (expect_ok, result): (bool, Result<(), LedgerError>) = match step.op.clone() {
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
                (true, r)
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
                    self.books.deposit[p] = stake;
                }
                (ok, r.map(|_| ()))
            }
            Op::DeployClient { c, p } => {
                let ok =
                    self.books.proxies[p].is_some() && !self.books.clients.contains_key(&(c, p));
                let r = l.client_deploy(&client_owner(c), &self.proxy_sc(p));
                if let Ok(sc) = &r {
                    self.books.clients.insert((c, p), sc.clone());
                }
                (ok, r.map(|_| ()))
            }
            Op::DeployWorker { w, p } => {
                let ok =
                    self.books.proxies[p].is_some() && !self.books.workers.contains_key(&(w, p));
                let r = l.worker_deploy(&worker_owner(w), &self.proxy_sc(p));
                if let Ok(sc) = &r {
                    self.books.workers.insert((w, p), sc.clone());
                }
                (ok, r.map(|_| ()))
            }
            Op::TopUp {
                c,
                p,
                units,
                extra,
                owner,
            }
            | Op::IncreaseStake {
                c,
                p,
                units,
                extra,
                owner,
            } => {
                let is_top_up = matches!(step.op, Op::TopUp { .. });
                let sc = self.client_sc(c, p);
                let amount = self.amount(units, extra);
                let sender = self.sender(client_owner(c), owner);
                let ok = before
                    .clients
                    .get(&sc.to_hex())
                    .is_some_and(|st| st.status == ContractStatus::Active)
                    && owner
                    && wallet_of(&before, &sender) >= amount;
                let r = if is_top_up {
                    l.client_top_up(&sender, &sc, amount)
                } else {
                    l.client_increase_stake(&sender, &sc, amount)
                };
                if r.is_ok() {
                    let after = l.client_state(&sc).expect("client");
                    let was = &before.clients[&sc.to_hex()];
                    let (grew, same) = if is_top_up {
                        (after.balance - was.balance, after.stake == was.stake)
                    } else {
                        (after.stake - was.stake, after.balance == was.balance)
                    };
                    prop_assert!(grew == amount && same);
                }
                (ok, r)
            }
            Op::Charge {
                c,
                p,
                tokens,
                forged,
            } => self.charge(step.via, &before, (c, p), tokens, forged)?,
            Op::Payout {
                w,
                p,
                tokens,
                forged,
            } => self.payout(step.via, &before, (w, p), tokens, forged)?,
            Op::GrantRefund {
                c,
                p,
                tokens,
                forged,
            } => self.grant_refund(step.via, &before, (c, p), tokens, forged)?,
            Op::LastPayout {
                w,
                p,
                tokens,
                forged,
            } => self.last_payout(step.via, &before, (w, p), tokens, forged)?,
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
                (ok, r)
            }
            Op::ProxyPayout { p, owner } => {
                let sc = self.proxy_sc(p);
                let ok = owner && before.proxies.contains_key(&sc.to_hex());
                let r = l.proxy_payout(&self.sender(proxy_owner(p), owner), &sc);
                if let Ok(amount) = &r {
                    prop_assert_eq!(*amount, before.proxies[&sc.to_hex()].commission);
                    self.books.commission_paid_out[p] += amount;
                }
                (ok, r.map(|_| ()))
            }
            Op::Refund { c, p, owner } => {
                let sc = self.client_sc(c, p);
                // Active: starts closing and returns the money above the stake at once.
                // Closing, strictly after the unlock time: closes and returns the rest.
                let st = before.clients.get(&sc.to_hex());
                let opening = st.is_some_and(|st| st.status == ContractStatus::Active);
                let closing =
                    st.is_some_and(|st| st.status == ContractStatus::Closing && now > st.unlock_ts);
                let ok = owner && (opening || closing);
                let r = l.client_request_refund(&self.sender(client_owner(c), owner), &sc);
                if let (Ok(unlock), Some(st)) = (&r, st) {
                    let o = client_owner(c);
                    if opening {
                        prop_assert_eq!(*unlock, now + u64::from(self.setup.client_delay));
                        prop_assert_eq!(
                            l.wallet_balance(&o).expect("wallet"),
                            wallet_of(&before, &o) + st.balance
                        );
                    } else {
                        prop_assert_eq!(*unlock, st.unlock_ts);
                        prop_assert_eq!(
                            l.wallet_balance(&o).expect("wallet"),
                            wallet_of(&before, &o) + st.balance + st.stake
                        );
                    }
                }
                (ok, r.map(|_| ()))
            }
            Op::Withdraw { c, p, owner } => {
                let sc = self.client_sc(c, p);
                // Only while Active, only the money above the stake (contracts.md §3.1.6).
                let ok = owner
                    && before
                        .clients
                        .get(&sc.to_hex())
                        .is_some_and(|st| st.status == ContractStatus::Active && st.balance > 0);
                let r = l.client_withdraw(&self.sender(client_owner(c), owner), &sc);
                if let Ok(amount) = &r {
                    let st = &before.clients[&sc.to_hex()];
                    prop_assert_eq!(*amount, st.balance);
                    let o = client_owner(c);
                    prop_assert_eq!(
                        l.wallet_balance(&o).expect("wallet"),
                        wallet_of(&before, &o) + amount
                    );
                }
                (ok, r.map(|_| ()))
            }
            Op::ProxyClose { p, owner } => {
                let sc = self.proxy_sc(p);
                let ok = owner
                    && before
                        .proxies
                        .get(&sc.to_hex())
                        .is_some_and(|st| st.status == ContractStatus::Active);
                let r = l.proxy_request_close(&self.sender(proxy_owner(p), owner), &sc);
                if let Ok(unlock) = &r {
                    prop_assert_eq!(*unlock, now + u64::from(self.setup.proxy_delay));
                }
                (ok, r.map(|_| ()))
            }
            Op::ProxyComplete { p, owner } => {
                let sc = self.proxy_sc(p);
                let ok = owner
                    && before.proxies.get(&sc.to_hex()).is_some_and(|st| {
                        st.status == ContractStatus::Closing && now >= st.unlock_ts
                    });
                let r = l.proxy_complete_close(&self.sender(proxy_owner(p), owner), &sc);
                if let Ok(amount) = &r {
                    let st = &before.proxies[&sc.to_hex()];
                    prop_assert_eq!(*amount, st.stake + st.commission + st.worker_pool);
                    self.books.stake_returned[p] += st.stake;
                    self.books.commission_returned[p] += st.commission;
                    self.books.pool_returned[p] += st.worker_pool;
                }
                (ok, r.map(|_| ()))
            }
            Op::Advance { seconds } => {
                let r = l.devnet_advance_clock(seconds);
                if let Ok(clock) = &r {
                    prop_assert_eq!(*clock, now + seconds);
                }
                (true, r.map(|_| ()))
            }
            Op::Reopen => {
                self.ledgers[step.via] = open(&self.path, &self.config);
                let reopened = self.ledgers[step.via]
                    .try_devnet_snapshot()
                    .expect("snapshot");
                prop_assert_eq!(&reopened, &before, "reopen changed the state");
                (true, Ok(()))
            }
        };
        prop_assert_eq!(result.is_ok(), expect_ok, "{:?} gave {:?}", step.op, result);
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
