//! The real side of the differential harness: the real code cells in `@ton/sandbox`, one
//! proxy contract with [`PARTIES`] clients and workers deployed as the runners deploy them.

use std::collections::HashMap;
use std::sync::Arc;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::address::{
    client_data_cell, contract_address, proxy_data_cell, worker_data_cell,
};
use cocoon_ledger::boc;
use cocoon_ledger::root_config::ContractCodes;
use cocoon_ledger::voucher::{VoucherKind, VoucherTerms};
use cocoon_ton::cells::{store_addr, store_coins};
use cocoon_ton::messages::{self, op, value, ProxyCloseStep};
use ed25519_dalek::SigningKey;
use serde_json::json;
use tonlib_core::cell::{Cell, CellBuilder};
use tonlib_core::TonAddress;

use super::{Op, Seen, States, PARTIES, PROXY_DEPLOY_REAL, TOKEN_UNIT};
use crate::driver::{Account, Sandbox, Trace};
use crate::world::{addr, params, START};

/// `owner_client_increase_stake` (contracts.md §3.1.5; no builder in `messages`: the
/// runners never send it).
const OWNER_CLIENT_INCREASE_STAKE: u32 = 0x6a1f_6a60;
/// `owner_proxy_close` (contracts.md §3.3.7).
const OWNER_PROXY_CLOSE: u32 = 0xb51d_5a01;
/// `owner_worker_register` (contracts.md §3.2.2; not sent by our nodes).
const OWNER_WORKER_REGISTER: u32 = 0x26ed_7f65;

/// Every address of a case.
#[derive(Clone, Debug)]
pub struct Addresses {
    pub proxy_sc: TonAddress,
    pub proxy_owner: TonAddress,
    pub proxy_key: [u8; 32],
    /// (contract, owner) per client.
    pub clients: Vec<(TonAddress, TonAddress)>,
    /// (contract, owner) per worker.
    pub workers: Vec<(TonAddress, TonAddress)>,
    /// Where every excess goes.
    pub excess: TonAddress,
    /// Someone who owns nothing.
    pub stranger: TonAddress,
}

pub struct RealWorld<'a> {
    sb: &'a mut Sandbox,
    key: SigningKey,
    at: Addresses,
    /// The last fields seen of each contract (raw address).
    fields: HashMap<String, Account>,
}

fn field(a: &Account, name: &str) -> u128 {
    a.field(name)
}

impl<'a> RealWorld<'a> {
    /// A fresh chain with the proxy, clients and workers deployed.
    pub fn deploy(sb: &'a mut Sandbox) -> RealWorld<'a> {
        sb.call(json!({"cmd": "reset", "now": START}));
        let codes = ContractCodes {
            proxy: sb.code("proxy"),
            worker: sb.code("worker"),
            client: sb.code("client"),
        };
        let p = params();
        let key = SigningKey::from_bytes(&[0x5a; 32]);
        let vk = key.verifying_key();
        let proxy_owner = addr(0x0a);
        let data = proxy_data_cell(&proxy_owner, &vk, &addr(0x01), &p, &codes).expect("data");
        let proxy_sc = contract_address(&codes.proxy, &Arc::new(data.clone())).expect("addr");
        let mut world = RealWorld {
            sb,
            key,
            at: Addresses {
                proxy_sc: proxy_sc.clone(),
                proxy_owner: proxy_owner.clone(),
                proxy_key: vk.to_bytes(),
                clients: Vec::new(),
                workers: Vec::new(),
                excess: addr(0xee),
                stranger: addr(0x99),
            },
            fields: HashMap::new(),
        };
        world.deploy_one(&proxy_owner, &codes.proxy, data, PROXY_DEPLOY_REAL);
        for i in 0..PARTIES {
            let owner = addr(0x20 + i as u8);
            let data = client_data_cell(&owner, &proxy_sc, &vk, &p, &codes).expect("data");
            let sc = world.deploy_one(&owner, &codes.client, data, value::DEPLOY_CLIENT);
            world.at.clients.push((sc, owner));
            let owner = addr(0x30 + i as u8);
            let data = worker_data_cell(&owner, &proxy_sc, &vk, &p, &codes).expect("data");
            let sc = world.deploy_one(&owner, &codes.worker, data, value::DEPLOY_PROXY_OR_WORKER);
            world.at.workers.push((sc, owner));
        }
        world
    }

    fn deploy_one(
        &mut self,
        owner: &TonAddress,
        code: &tonlib_core::cell::ArcCell,
        data: Cell,
        value: NanoTon,
    ) -> TonAddress {
        let sc = contract_address(code, &Arc::new(data.clone())).expect("address");
        let trace = self.sb.send(owner, &sc, value, None, Some((code, &data)));
        assert_eq!(trace.first_exit(), Some(0), "deploy: {trace:#?}");
        self.remember(&trace);
        sc
    }

    pub fn addresses(&self) -> Addresses {
        self.at.clone()
    }

    fn remember(&mut self, trace: &Trace) {
        for (address, account) in &trace.accounts {
            if account.fields.is_some() {
                self.fields.insert(address.clone(), account.clone());
            }
        }
    }

    pub fn states(&self) -> States {
        let get = |a: &TonAddress| self.fields.get(&a.to_hex()).expect("contract seen");
        let small = |v: u128| u64::try_from(v).expect("fits u64");
        States {
            clients: self
                .at
                .clients
                .iter()
                .map(|(sc, _)| {
                    let a = get(sc);
                    (
                        field(a, "state") as u8,
                        field(a, "balance"),
                        field(a, "stake"),
                        small(field(a, "tokens_used")),
                        small(field(a, "unlock_ts")),
                    )
                })
                .collect(),
            workers: self
                .at
                .workers
                .iter()
                .map(|(sc, _)| {
                    let a = get(sc);
                    (field(a, "state") as u8, small(field(a, "tokens")))
                })
                .collect(),
            proxy: {
                let a = get(&self.at.proxy_sc);
                (
                    field(a, "state") as u8,
                    field(a, "balance"),
                    field(a, "stake"),
                    small(field(a, "unlock_ts")),
                )
            },
        }
    }

    fn tokens(&self, sc: &TonAddress, name: &str) -> u64 {
        let a = self.fields.get(&sc.to_hex()).expect("contract seen");
        u64::try_from(field(a, name)).expect("tokens")
    }

    fn voucher(&self, kind: VoucherKind, qid: u64, tokens: u64, target: &TonAddress) -> Cell {
        let terms = VoucherTerms {
            kind,
            qid,
            tokens,
            target: target.clone(),
        };
        messages::signed_voucher_body(&self.key, &terms, &self.at.excess).expect("voucher")
    }

    pub fn step(&mut self, op: &Op, qid: u64) -> Seen {
        let at = self.at.clone();
        let ex = &at.excess;
        let owner_or = |c: usize, stranger: bool| {
            if stranger {
                at.stranger.clone()
            } else {
                at.clients[c].1.clone()
            }
        };
        let (from, to, value, body): (TonAddress, TonAddress, NanoTon, Cell) = match *op {
            Op::TopUp { c, tons } => {
                let amount = NanoTon::from(tons) * ONE_TON;
                let body = messages::client_top_up_body(qid, amount, ex).expect("body");
                (
                    at.clients[c].1.clone(),
                    at.clients[c].0.clone(),
                    amount + value::STANDARD,
                    body,
                )
            }
            Op::Register { c, nonce } => {
                let body = messages::client_register_body(qid, nonce, ex).expect("body");
                (
                    at.clients[c].1.clone(),
                    at.clients[c].0.clone(),
                    value::STANDARD,
                    body,
                )
            }
            Op::ChangeSecret { c, byte } => {
                let body =
                    messages::client_change_secret_hash_body(qid, &[byte; 32], ex).expect("body");
                (
                    at.clients[c].1.clone(),
                    at.clients[c].0.clone(),
                    value::STANDARD,
                    body,
                )
            }
            Op::WorkerRegister { w, stranger } => {
                let mut b = CellBuilder::new();
                b.store_u32(32, OWNER_WORKER_REGISTER).expect("op");
                b.store_u64(64, qid).expect("qid");
                store_addr(&mut b, ex).expect("addr");
                let body = b.build().expect("body");
                let from = if stranger {
                    at.stranger.clone()
                } else {
                    at.workers[w].1.clone()
                };
                (from, at.workers[w].0.clone(), value::STANDARD, body)
            }
            Op::ClientStake { c, tons } => {
                let mut b = CellBuilder::new();
                b.store_u32(32, OWNER_CLIENT_INCREASE_STAKE).expect("op");
                b.store_u64(64, qid).expect("qid");
                store_coins(&mut b, NanoTon::from(tons) * ONE_TON).expect("coins");
                store_addr(&mut b, ex).expect("addr");
                let body = b.build().expect("body");
                (
                    at.clients[c].1.clone(),
                    at.clients[c].0.clone(),
                    value::STANDARD,
                    body,
                )
            }
            Op::Charge { c, units } | Op::GrantRefund { c, units } => {
                let sc = at.clients[c].0.clone();
                let tokens = self.tokens(&sc, "tokens_used") + units * TOKEN_UNIT;
                let kind = if matches!(op, Op::Charge { .. }) {
                    VoucherKind::ClientCharge
                } else {
                    VoucherKind::ClientGrantRefund
                };
                let body = self.voucher(kind, qid, tokens, &sc);
                (at.stranger.clone(), sc, value::STANDARD, body)
            }
            Op::Withdraw { c, stranger } => {
                let body = messages::client_withdraw_body(qid, ex).expect("body");
                (
                    owner_or(c, stranger),
                    at.clients[c].0.clone(),
                    value::STANDARD,
                    body,
                )
            }
            Op::RequestRefund { c, stranger } => {
                let body = messages::client_request_refund_body(qid, ex).expect("body");
                (
                    owner_or(c, stranger),
                    at.clients[c].0.clone(),
                    value::STANDARD,
                    body,
                )
            }
            Op::WorkerPayout { w, units, last } => {
                let sc = at.workers[w].0.clone();
                let tokens = self.tokens(&sc, "tokens") + units * TOKEN_UNIT;
                let kind = if last {
                    VoucherKind::WorkerLastPayout
                } else {
                    VoucherKind::WorkerPayout
                };
                let body = self.voucher(kind, qid, tokens, &sc);
                (
                    at.workers[w].1.clone(),
                    sc,
                    value::WORKER_SUBMITS_VOUCHER,
                    body,
                )
            }
            Op::ProxyStake { tons } => {
                let amount = NanoTon::from(tons) * ONE_TON;
                let body = messages::proxy_increase_stake_body(qid, amount, ex).expect("body");
                let value = amount + value::PROXY_INCREASE_STAKE_GAS;
                (at.stranger.clone(), at.proxy_sc.clone(), value, body)
            }
            Op::ProxyPayout => {
                let body = messages::proxy_payout_request_body(qid, ex).expect("body");
                (
                    at.stranger.clone(),
                    at.proxy_sc.clone(),
                    value::PROXY_PAYOUT_REQUEST,
                    body,
                )
            }
            Op::ProxyClose | Op::ProxyComplete => {
                let step = if matches!(op, Op::ProxyClose) {
                    ProxyCloseStep::Request
                } else {
                    ProxyCloseStep::Complete
                };
                let body = messages::proxy_close_body(&self.key, step, qid, &at.proxy_sc, ex)
                    .expect("body");
                let value = value::REGISTER_AND_CLOSE_FLOW;
                (at.stranger.clone(), at.proxy_sc.clone(), value, body)
            }
            Op::OwnerClose { stranger } | Op::OwnerWithdraw { stranger } => {
                let mut b = CellBuilder::new();
                if matches!(op, Op::OwnerClose { .. }) {
                    b.store_u32(32, OWNER_PROXY_CLOSE).expect("op");
                    b.store_u64(64, qid).expect("qid");
                    store_addr(&mut b, ex).expect("addr");
                } else {
                    // Text command: op 0, then the one byte "w".
                    b.store_u32(32, 0).expect("op");
                    b.store_u8(8, b'w').expect("w");
                }
                let body = b.build().expect("body");
                let from = if stranger {
                    at.stranger.clone()
                } else {
                    at.proxy_owner.clone()
                };
                (from, at.proxy_sc.clone(), value::PROXY_PAYOUT_REQUEST, body)
            }
            Op::Advance { seconds } => {
                self.sb.advance(seconds);
                return Seen {
                    exit: None,
                    proxy_exits: Vec::new(),
                    notices: Vec::new(),
                    payouts: Vec::new(),
                };
            }
        };
        let trace = self.sb.send(&from, &to, value, Some(&body), None);
        self.remember(&trace);
        self.seen(&trace)
    }

    fn seen(&self, trace: &Trace) -> Seen {
        let proxy = self.at.proxy_sc.to_hex();
        let mut seen = Seen {
            exit: trace.first_exit(),
            proxy_exits: Vec::new(),
            notices: Vec::new(),
            payouts: Vec::new(),
        };
        for tx in &trace.transactions {
            if tx.account != proxy {
                continue;
            }
            let Some(msg) = &tx.in_msg else { continue };
            if !msg.bounced
                && matches!(
                    msg.op,
                    Some(op::CLIENT_PROXY_REQUEST | op::WORKER_PROXY_REQUEST)
                )
            {
                seen.notices
                    .push(hex::encode(boc::cell_hash(&msg.body_cell())));
                seen.proxy_exits.push(tx.exit_code());
            }
            for out in &tx.out {
                if out.op == Some(op::PAYOUT) {
                    let to = out.dest.clone().expect("payout destination");
                    seen.payouts.push((to, out.value()));
                }
            }
        }
        seen
    }
}
