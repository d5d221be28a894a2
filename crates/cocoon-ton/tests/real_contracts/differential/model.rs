//! Our side of the differential harness: the pure contract model, one state per contract,
//! each step's notices encoded as the real contracts encode them.

use cocoon_ledger::accounting::{NanoTon, Prices, ONE_TON};
use cocoon_ledger::boc;
use cocoon_ledger::contracts::{client, proxy, worker, ClientPayload, Emitted, Exit, Handled};
use cocoon_ledger::ledger::{ClientContractState, ProxyContractState, WorkerContractState};
use cocoon_ton::messages::model_notice::{model_notice_body, status_code};
use tonlib_core::TonAddress;

use super::real::Addresses;
use super::{Op, Seen, States, PROXY_DEPLOY_MODEL, TOKEN_UNIT};
use crate::world::{params, START};

pub struct ModelWorld {
    at: Addresses,
    prices: Prices,
    now: u64,
    proxy: ProxyContractState,
    clients: Vec<ClientContractState>,
    workers: Vec<WorkerContractState>,
}

fn exit_code(e: &Exit) -> Option<i32> {
    Some(e.code() as i32)
}

impl ModelWorld {
    pub fn new(at: &Addresses) -> ModelWorld {
        let p = params();
        let hex = |a: &TonAddress| a.to_hex();
        ModelWorld {
            prices: p.prices().expect("prices"),
            now: START,
            proxy: proxy::deployed(
                hex(&at.proxy_owner),
                at.proxy_key,
                PROXY_DEPLOY_MODEL,
                p.params_version,
            ),
            clients: at
                .clients
                .iter()
                .map(|(_, owner)| {
                    client::deployed(
                        hex(owner),
                        hex(&at.proxy_sc),
                        p.min_client_stake,
                        p.params_version,
                    )
                })
                .collect(),
            workers: at
                .workers
                .iter()
                .map(|(_, owner)| worker::deployed(hex(owner), hex(&at.proxy_sc), p.params_version))
                .collect(),
            at: at.clone(),
        }
    }

    pub fn states(&self) -> States {
        States {
            clients: self
                .clients
                .iter()
                .map(|c| {
                    let s = status_code(c.status);
                    (s, c.balance, c.stake, c.tokens_used, c.unlock_ts)
                })
                .collect(),
            workers: self
                .workers
                .iter()
                .map(|w| (status_code(w.status), w.tokens))
                .collect(),
            proxy: (
                status_code(self.proxy.status),
                self.proxy.commission,
                self.proxy.stake,
                self.proxy.unlock_ts,
            ),
        }
    }

    /// Delivers a client's or worker's notices to the proxy; records everything.
    fn deliver(&mut self, out: Vec<Emitted>, qid: u64, seen: &mut Seen) {
        for notice in out {
            let (_, body) = model_notice_body(&notice, qid, &self.at.excess)
                .expect("notice body")
                .expect("a notice");
            seen.notices.push(hex::encode(boc::cell_hash(&body)));
            let handled = match &notice {
                Emitted::ClientNotice {
                    owner,
                    payload: Some(payload),
                    ..
                } if !matches!(payload, ClientPayload::Register { .. }) => {
                    proxy::client_notice(&self.proxy, owner, payload)
                }
                Emitted::WorkerNotice {
                    owner,
                    payout: Some(payout),
                    ..
                } => proxy::worker_notice(&self.proxy, owner, payout),
                // Sent with 1 nanoTON: never executed.
                _ => {
                    seen.proxy_exits.push(None);
                    continue;
                }
            };
            self.apply_proxy(handled, seen);
        }
    }

    fn apply_proxy(&mut self, handled: Handled<ProxyContractState>, seen: &mut Seen) {
        match handled {
            Ok((next, payouts)) => {
                self.proxy = next;
                seen.proxy_exits.push(Some(0));
                for p in payouts {
                    if let Emitted::Payout { to, amount } = p {
                        seen.payouts.push((to, amount));
                    }
                }
            }
            Err(e) => seen.proxy_exits.push(exit_code(&e)),
        }
    }

    fn client_step(
        &mut self,
        c: usize,
        qid: u64,
        handled: Result<(ClientContractState, Vec<Emitted>), Exit>,
    ) -> Seen {
        let mut seen = empty();
        match handled {
            Ok((next, out)) => {
                self.clients[c] = next;
                seen.exit = Some(0);
                self.deliver(out, qid, &mut seen);
            }
            Err(e) => seen.exit = exit_code(&e),
        }
        seen
    }

    pub fn step(&mut self, op: &Op, qid: u64) -> Seen {
        let owner = |c: usize, stranger: bool, at: &Addresses| {
            if stranger {
                at.stranger.to_hex()
            } else {
                at.clients[c].1.to_hex()
            }
        };
        let delay = |d: u32| u64::from(d);
        let p = params();
        match *op {
            Op::TopUp { c, tons } => {
                let h = client::top_up(&self.clients[c], NanoTon::from(tons) * ONE_TON);
                self.client_step(c, qid, h)
            }
            Op::Register { c, nonce } => {
                let h = client::register(&self.clients[c], &owner(c, false, &self.at), nonce);
                self.client_step(c, qid, h)
            }
            Op::ChangeSecret { c, byte } => {
                let owner = owner(c, false, &self.at);
                let h = client::change_secret_hash(&self.clients[c], &owner, [byte; 32]);
                self.client_step(c, qid, h)
            }
            Op::WorkerRegister { w, stranger } => {
                let sender = if stranger {
                    self.at.stranger.to_hex()
                } else {
                    self.at.workers[w].1.to_hex()
                };
                let mut seen = empty();
                match worker::register(&self.workers[w], &sender) {
                    Ok((next, out)) => {
                        self.workers[w] = next;
                        seen.exit = Some(0);
                        self.deliver(out, qid, &mut seen);
                    }
                    Err(e) => seen.exit = exit_code(&e),
                }
                seen
            }
            Op::ClientStake { c, tons } => {
                let new_stake = NanoTon::from(tons) * ONE_TON;
                let h =
                    client::increase_stake(&self.clients[c], &owner(c, false, &self.at), new_stake);
                self.client_step(c, qid, h)
            }
            Op::Charge { c, units } | Op::GrantRefund { c, units } => {
                let tokens = self.clients[c].tokens_used + units * TOKEN_UNIT;
                let h = if matches!(op, Op::Charge { .. }) {
                    client::charge(&self.clients[c], tokens, &self.prices)
                } else {
                    client::grant_refund(&self.clients[c], tokens, &self.prices)
                };
                self.client_step(c, qid, h.map(|(s, out, _)| (s, out)))
            }
            Op::Withdraw { c, stranger } => {
                let h = client::withdraw(&self.clients[c], &owner(c, stranger, &self.at));
                self.client_step(c, qid, h)
            }
            Op::RequestRefund { c, stranger } => {
                let h = client::request_refund(
                    &self.clients[c],
                    &owner(c, stranger, &self.at),
                    self.now,
                    delay(p.client_delay_before_close),
                );
                self.client_step(c, qid, h)
            }
            Op::WorkerPayout { w, units, last } => {
                let tokens = self.workers[w].tokens + units * TOKEN_UNIT;
                let mut seen = empty();
                match worker::payout(&self.workers[w], tokens, last, &self.prices) {
                    Ok((next, out)) => {
                        self.workers[w] = next;
                        seen.exit = Some(0);
                        self.deliver(out, qid, &mut seen);
                    }
                    Err(e) => seen.exit = exit_code(&e),
                }
                seen
            }
            Op::ProxyStake { tons } => self.proxy_op(proxy::increase_stake(
                &self.proxy,
                NanoTon::from(tons) * ONE_TON,
            )),
            Op::ProxyPayout => self.proxy_op(proxy::payout_request(&self.proxy)),
            Op::ProxyClose => self.proxy_op(proxy::close_request(
                &self.proxy,
                self.now,
                delay(p.proxy_delay_before_close),
            )),
            Op::ProxyComplete => self.proxy_op(proxy::close_complete(&self.proxy, self.now)),
            Op::OwnerClose { stranger } | Op::OwnerWithdraw { stranger } => {
                let sender = if stranger {
                    self.at.stranger.to_hex()
                } else {
                    self.at.proxy_owner.to_hex()
                };
                let h = if matches!(op, Op::OwnerClose { .. }) {
                    let delay = delay(p.proxy_delay_before_close);
                    proxy::owner_close(&self.proxy, &sender, self.now, delay)
                } else {
                    proxy::owner_withdraw(&self.proxy, &sender)
                };
                self.proxy_op(h)
            }
            Op::Advance { seconds } => {
                self.now += seconds;
                empty()
            }
        }
    }

    fn proxy_op(&mut self, handled: Handled<ProxyContractState>) -> Seen {
        let mut seen = empty();
        self.apply_proxy(handled, &mut seen);
        // The message went to the proxy itself: its exit is the step's exit.
        seen.exit = seen.proxy_exits.pop().flatten();
        seen
    }
}

fn empty() -> Seen {
    Seen {
        exit: None,
        proxy_exits: Vec::new(),
        notices: Vec::new(),
        payouts: Vec::new(),
    }
}
