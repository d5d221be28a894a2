use cocoon_ledger::address::{derive_contract_address, devnet_placeholder_codes, ContractSpec};
use cocoon_ledger::root_config::{ContractCodes, RootConfig, RootParams};
use ed25519_dalek::{SigningKey, VerifyingKey};
use proptest::prelude::*;
use tonlib_core::cell::ArcCell;
use tonlib_core::TonHash;

use super::*;
use crate::messages::{client_withdraw_body, proxy_save_state_body};
use crate::test_bits::Bits;

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

struct Fixture {
    proxy_sc: TonAddress,
    key: VerifyingKey,
    params: RootParams,
    codes: ContractCodes,
    wallet: TonAddress,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            proxy_sc: addr(0x22),
            key: SigningKey::from_bytes(&[7; 32]).verifying_key(),
            params: RootConfig::devnet_default().params,
            codes: devnet_placeholder_codes().expect("codes"),
            wallet: addr(0x11),
        }
    }
    fn ctx(&self) -> ProxyContractContext<'_> {
        ProxyContractContext {
            proxy_sc: &self.proxy_sc,
            proxy_key: &self.key,
            params: &self.params,
            codes: &self.codes,
            own_wallet: &self.wallet,
        }
    }
    fn client_sc(&self, owner: &TonAddress) -> TonAddress {
        derive_contract_address(
            ContractSpec::Client {
                owner,
                proxy_sc: &self.proxy_sc,
            },
            &self.key,
            &self.params,
            &self.codes,
        )
        .expect("derive")
    }
    fn worker_sc(&self, owner: &TonAddress) -> TonAddress {
        derive_contract_address(
            ContractSpec::Worker {
                owner,
                proxy_sc: &self.proxy_sc,
            },
            &self.key,
            &self.params,
            &self.codes,
        )
        .expect("derive")
    }
}

fn client_state_cell() -> ArcCell {
    Bits::new()
        .uint(1, 2)
        .coins(5_000_000_000)
        .coins(1_000_000_000)
        .uint(1234, 64)
        .bytes(&[0x5a; 32])
        .arc(vec![])
}

fn client_request(owner: &TonAddress, payload: Option<ArcCell>) -> Cell {
    let mut bits = Bits::new()
        .uint(u128::from(op::CLIENT_PROXY_REQUEST), 32)
        .uint(99, 64)
        .addr(owner);
    let mut refs = vec![client_state_cell()];
    match payload {
        Some(p) => {
            bits = bits.bits("1");
            refs.push(p);
        }
        None => bits = bits.bits("0"),
    }
    bits.cell(refs)
}

fn payload(op: u32, extra: Option<u64>) -> ArcCell {
    let mut bits = Bits::new().uint(u128::from(op), 32);
    if let Some(v) = extra {
        bits = bits.uint(u128::from(v), 64);
    }
    bits.arc(vec![])
}

#[test]
fn client_request_from_the_derived_contract_is_accepted() {
    let f = Fixture::new();
    let owner = addr(0x33);
    let sc = f.client_sc(&owner);
    let excess = addr(0x44);
    let cases = [
        (None, None),
        (
            Some(payload(op::CLIENT_PROXY_REGISTER, Some(77))),
            Some(ClientProxyPayload::Register { nonce: 77 }),
        ),
        (
            Some(money_payload_cell(
                op::CLIENT_PROXY_TOP_UP,
                7_000_000_000,
                &excess,
            )),
            Some(ClientProxyPayload::TopUp {
                amount: 7_000_000_000,
                excess_to: excess.clone(),
            }),
        ),
        (
            Some(money_payload_cell(
                op::CLIENT_PROXY_REFUND_GRANTED,
                9_000_000_000,
                &excess,
            )),
            Some(ClientProxyPayload::RefundGranted {
                amount: 9_000_000_000,
                excess_to: excess.clone(),
            }),
        ),
        (
            Some(money_payload_cell(
                op::CLIENT_PROXY_REFUND_FORCE,
                ONE,
                &excess,
            )),
            Some(ClientProxyPayload::RefundForce {
                amount: ONE,
                excess_to: excess.clone(),
            }),
        ),
        (
            Some(payload(0x1234_5678, None)),
            Some(ClientProxyPayload::Unknown(0x1234_5678)),
        ),
    ];
    for (cell, expected) in cases {
        let body = client_request(&owner, cell);
        let parsed = parse_proxy_inbound(&f.ctx(), &sc, &body).expect("parse");
        assert_eq!(
            parsed,
            ProxyInbound::Client(ClientProxyRequest {
                qid: 99,
                client_owner: owner.clone(),
                client_sc: sc.clone(),
                state: ClientStateUpdate {
                    status: 1,
                    balance: 5_000_000_000,
                    stake: 1_000_000_000,
                    tokens_used: 1234,
                    secret_hash: [0x5a; 32],
                },
                payload: expected.clone(),
            })
        );
        // The simulation's builder writes the very cell assembled bit by bit above.
        let state = ClientStateUpdate {
            status: 1,
            balance: 5_000_000_000,
            stake: 1_000_000_000,
            tokens_used: 1234,
            secret_hash: [0x5a; 32],
        };
        let built =
            client_proxy_request_body(99, &owner, &state, expected.as_ref()).expect("build");
        assert_eq!(
            cocoon_ledger::boc::cell_hash(&built),
            cocoon_ledger::boc::cell_hash(&body),
            "builder and hand-assembled bits differ for {expected:?}"
        );
    }
}

#[test]
fn client_request_from_another_address_is_rejected() {
    let f = Fixture::new();
    let owner = addr(0x33);
    let body = client_request(&owner, None);
    // Sent by the contract of a different owner.
    let other = f.client_sc(&addr(0x34));
    assert!(matches!(
        parse_proxy_inbound(&f.ctx(), &other, &body),
        Err(InboundError::WrongSender { .. })
    ));
    // A worker contract of the same owner is not a client contract.
    let worker = f.worker_sc(&owner);
    assert!(matches!(
        parse_proxy_inbound(&f.ctx(), &worker, &body),
        Err(InboundError::WrongSender { .. })
    ));
}

#[test]
fn malformed_client_requests_are_errors() {
    let f = Fixture::new();
    let owner = addr(0x33);
    let sc = f.client_sc(&owner);
    // Register payload without its nonce.
    let body = client_request(&owner, Some(payload(op::CLIENT_PROXY_REGISTER, None)));
    assert!(parse_proxy_inbound(&f.ctx(), &sc, &body).is_err());
    // State cell with an extra bit.
    let bad_state = Bits::new()
        .uint(0, 2)
        .coins(0)
        .coins(0)
        .uint(0, 64)
        .bytes(&[0; 32])
        .bits("1")
        .arc(vec![]);
    let body = Bits::new()
        .uint(u128::from(op::CLIENT_PROXY_REQUEST), 32)
        .uint(1, 64)
        .addr(&owner)
        .bits("0")
        .cell(vec![bad_state]);
    assert!(parse_proxy_inbound(&f.ctx(), &sc, &body).is_err());
    // No state reference at all.
    let body = Bits::new()
        .uint(u128::from(op::CLIENT_PROXY_REQUEST), 32)
        .uint(1, 64)
        .addr(&owner)
        .bits("0")
        .cell(vec![]);
    assert!(parse_proxy_inbound(&f.ctx(), &sc, &body).is_err());
    // Trailing bits after the payload flag.
    let body = Bits::new()
        .uint(u128::from(op::CLIENT_PROXY_REQUEST), 32)
        .uint(1, 64)
        .addr(&owner)
        .bits("01")
        .cell(vec![client_state_cell()]);
    assert!(parse_proxy_inbound(&f.ctx(), &sc, &body).is_err());
}

const ONE: u128 = 1_000_000_000;

/// A client contract's TOPUP / REFUND payload (contracts.md §3.1):
/// `op amount:coins send_excesses_to:addr`.
fn money_payload_cell(op: u32, amount: u128, excess: &TonAddress) -> ArcCell {
    Bits::new()
        .uint(u128::from(op), 32)
        .coins(amount)
        .addr(excess)
        .arc(vec![])
}

#[test]
fn client_money_payloads_must_end() {
    let f = Fixture::new();
    let owner = addr(0x33);
    let sc = f.client_sc(&owner);
    for payload_op in [
        op::CLIENT_PROXY_TOP_UP,
        op::CLIENT_PROXY_REFUND_GRANTED,
        op::CLIENT_PROXY_REFUND_FORCE,
    ] {
        let short = Bits::new()
            .uint(u128::from(payload_op), 32)
            .coins(ONE)
            .arc(vec![]);
        let long = Bits::new()
            .uint(u128::from(payload_op), 32)
            .coins(ONE)
            .addr(&owner)
            .uint(1, 1)
            .arc(vec![]);
        for cell in [short, long] {
            let body = client_request(&owner, Some(cell));
            assert!(parse_proxy_inbound(&f.ctx(), &sc, &body).is_err());
        }
    }
}

/// The worker contract's payout payload (contracts.md §3.2):
/// `0x08e7d036 worker_part:coins proxy_part:coins send_excesses_to:addr`.
fn worker_payout_payload(worker_part: u128, proxy_part: u128, excess: &TonAddress) -> ArcCell {
    Bits::new()
        .uint(u128::from(op::WORKER_PROXY_PAYOUT_REQUEST), 32)
        .coins(worker_part)
        .coins(proxy_part)
        .addr(excess)
        .arc(vec![])
}

fn worker_request(owner: &TonAddress, payout: Option<(u128, u128)>) -> Cell {
    let bits = Bits::new()
        .uint(u128::from(op::WORKER_PROXY_REQUEST), 32)
        .uint(5, 64)
        .addr(owner)
        .uint(0, 2)
        .uint(4000, 64);
    match payout {
        Some((worker_part, proxy_part)) => bits.bits("1").cell(vec![worker_payout_payload(
            worker_part,
            proxy_part,
            &addr(0x45),
        )]),
        None => bits.bits("0").cell(vec![]),
    }
}

#[test]
fn worker_requests_are_checked_and_parsed() {
    let f = Fixture::new();
    let owner = addr(0x44);
    let sc = f.worker_sc(&owner);
    // 500 tokens at price 10 000, worker fee 9 000.
    let parts = (4_500_000, 500_000);
    let payout = WorkerProxyPayload::PayoutRequest {
        worker_part: 4_500_000,
        proxy_part: 500_000,
        excess_to: addr(0x45),
    };
    let parsed =
        parse_proxy_inbound(&f.ctx(), &sc, &worker_request(&owner, Some(parts))).expect("parse");
    assert_eq!(
        parsed,
        ProxyInbound::Worker(WorkerProxyRequest {
            qid: 5,
            worker_owner: owner.clone(),
            worker_sc: sc.clone(),
            status: 0,
            tokens: 4000,
            payload: Some(payout.clone()),
        })
    );
    // The simulation's builder writes the very cells assembled bit by bit.
    for (tokens, payload) in [(Some(parts), Some(payout)), (None, None)] {
        let built = worker_proxy_request_body(5, &owner, 0, 4000, payload.as_ref()).expect("build");
        assert_eq!(
            cocoon_ledger::boc::cell_hash(&built),
            cocoon_ledger::boc::cell_hash(&worker_request(&owner, tokens))
        );
    }
    let parsed = parse_proxy_inbound(&f.ctx(), &sc, &worker_request(&owner, None)).expect("parse");
    assert!(matches!(
        parsed,
        ProxyInbound::Worker(WorkerProxyRequest { payload: None, .. })
    ));
    assert!(matches!(
        parse_proxy_inbound(
            &f.ctx(),
            &f.client_sc(&owner),
            &worker_request(&owner, None)
        ),
        Err(InboundError::WrongSender { .. })
    ));
}

#[test]
fn save_state_only_from_the_own_wallet() {
    let f = Fixture::new();
    let body = proxy_save_state_body(3, 17, &[9; 32]).expect("body");
    assert_eq!(
        parse_proxy_inbound(&f.ctx(), &f.wallet, &body).expect("parse"),
        ProxyInbound::SaveState {
            qid: 3,
            seqno: 17,
            session_hash: [9; 32]
        }
    );
    assert!(matches!(
        parse_proxy_inbound(&f.ctx(), &addr(0x99), &body),
        Err(InboundError::WrongSender { .. })
    ));
    let other = client_withdraw_body(8, &f.wallet).expect("body");
    assert_eq!(
        parse_proxy_inbound(&f.ctx(), &addr(0x99), &other).expect("parse"),
        ProxyInbound::Other {
            op: op::OWNER_CLIENT_WITHDRAW,
            qid: 8
        }
    );
}

/// Rebuilds `cell` with its bit string changed at `flip` and cut by `cut` bits.
fn mutate(cell: &Cell, flip: usize, cut: usize, drop_ref: bool) -> Cell {
    let mut bits = String::new();
    for i in 0..cell.bit_len() {
        let byte = cell.data()[i / 8];
        bits.push(if byte & (0x80 >> (i % 8)) != 0 {
            '1'
        } else {
            '0'
        });
    }
    if flip < bits.len() {
        let c = if &bits[flip..=flip] == "1" { "0" } else { "1" };
        bits.replace_range(flip..=flip, c);
    }
    bits.truncate(bits.len().saturating_sub(cut));
    let mut refs: Vec<ArcCell> = cell.references().to_vec();
    if drop_ref {
        refs.pop();
    }
    Bits(bits).cell(refs)
}

proptest! {
    #[test]
    fn mutated_inbound_messages_never_panic(
        which in 0usize..3,
        flip in 0usize..700,
        cut in 0usize..400,
        drop_ref in any::<bool>(),
    ) {
        let f = Fixture::new();
        let owner = addr(0x33);
        let base = match which {
            0 => client_request(&owner, Some(payload(op::CLIENT_PROXY_REGISTER, Some(1)))),
            1 => worker_request(&owner, Some((18_000, 2_000))),
            _ => proxy_save_state_body(1, 2, &[3; 32]).expect("body"),
        };
        let body = mutate(&base, flip, cut, drop_ref);
        for source in [f.client_sc(&owner), f.worker_sc(&owner), f.wallet.clone()] {
            let _ = parse_proxy_inbound(&f.ctx(), &source, &body);
        }
    }
}
