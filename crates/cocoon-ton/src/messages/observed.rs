//! Parsers of the messages the proxy observes on its own contract (§6.7, §8), as
//! `ProxyContract::on_transaction` reads them:
//! * `client_proxy_request | qid | owner | ^state | Maybe ^payload` from a client contract,
//!   where `state = status:2 balance:coins stake:coins tokens_used:u64 secret_hash:256` and
//!   the payload is `top_up`, `refund_granted` or `refund_force` (each `amount:coins
//!   send_excesses_to:addr`, contracts.md §3.1) or `register nonce:u64`;
//! * `worker_proxy_request | qid | owner | status:2 | tokens:u64 | Maybe ^payload` from a
//!   worker contract, payload `payout_request worker_part:coins proxy_part:coins
//!   send_excesses_to:addr` (contracts.md §3.2: money amounts, not a token count);
//! * `do_not_process | qid | proxy_save_state | seqno:i32 | session_hash:256` from the
//!   proxy's own cocoon wallet.
//!
//! The sender of a client (worker) request must be the client (worker) contract address
//! derived from the owner the message names, this proxy contract, the proxy key and the
//! params the proxy contract was created with; `save_state` is only honoured from the
//! proxy's own wallet. Malformed bodies are errors, never panics (the reference aborts on
//! several of them).

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::{derive_contract_address, ContractSpec};
use cocoon_ledger::root_config::{ContractCodes, RootParams};
use ed25519_dalek::VerifyingKey;
use std::sync::Arc;

use tonlib_core::cell::{Cell, CellBuilder};
use tonlib_core::TonAddress;

use super::op;
use crate::cells::{
    expect_end, finish, load_addr, load_bits256, load_coins, store_addr, store_coins, CellError,
};

/// What the proxy needs to check the senders of the messages its contract receives.
#[derive(Clone, Copy, Debug)]
pub struct ProxyContractContext<'a> {
    /// The proxy contract address.
    pub proxy_sc: &'a TonAddress,
    /// The proxy's public key (baked into client and worker contracts).
    pub proxy_key: &'a VerifyingKey,
    /// The root params the proxy contract was created with.
    pub params: &'a RootParams,
    /// The root's contract codes.
    pub codes: &'a ContractCodes,
    /// The proxy's own cocoon wallet (the only accepted sender of `save_state`).
    pub own_wallet: &'a TonAddress,
}

/// A client contract's state as carried in `client_proxy_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientStateUpdate {
    /// 0 active, 1 closing, 2 or 3 closed.
    pub status: u8,
    /// Unspent prepaid nanoTON.
    pub balance: NanoTon,
    /// Stake.
    pub stake: NanoTon,
    /// Tokens charged so far.
    pub tokens_used: u64,
    /// SHA-256 of the client's secret.
    pub secret_hash: [u8; 32],
}

/// The payload of a `client_proxy_request` (contracts.md §3.1, the table of shapes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientProxyPayload {
    /// `ext_client_top_up` (or change-secret-and-top-up): the proxy contract keeps `amount`
    /// (or, when the proxy contract is closing, pays it back to the client owner).
    TopUp {
        /// nanoTON credited to the client's balance.
        amount: NanoTon,
        /// Where the proxy contract returns the excess of the message value.
        excess_to: TonAddress,
    },
    /// The client registered for long authentication with `nonce`.
    Register {
        /// Nonce the proxy asked for.
        nonce: u64,
    },
    /// An immediate refund: `owner_client_withdraw`, a first `owner_client_request_refund`
    /// with balance > stake (`balance − stake`), or the proxy-signed
    /// `ext_client_grant_refund_signed` (the whole balance). The proxy contract pays
    /// `amount` to the client owner, uncapped.
    RefundGranted {
        /// nanoTON the proxy contract pays to the client owner.
        amount: NanoTon,
        /// Where the proxy contract returns the excess.
        excess_to: TonAddress,
    },
    /// A second `owner_client_request_refund` after the unlock time closed the client
    /// contract: the proxy contract pays `min(amount, its stake)` to the client owner.
    RefundForce {
        /// The client's whole balance at the close.
        amount: NanoTon,
        /// Where the proxy contract returns the excess.
        excess_to: TonAddress,
    },
    /// A payload opcode the reference does not know (it logs and ignores it).
    Unknown(u32),
}

/// A verified `client_proxy_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientProxyRequest {
    /// Query id.
    pub qid: u64,
    /// Client owner (its cocoon wallet).
    pub client_owner: TonAddress,
    /// The client contract (= the checked sender).
    pub client_sc: TonAddress,
    /// Contract state after the transaction.
    pub state: ClientStateUpdate,
    /// Optional payload.
    pub payload: Option<ClientProxyPayload>,
}

/// The payload of a `worker_proxy_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerProxyPayload {
    /// A payout voucher was applied: the worker contract asks the proxy contract to pay
    /// `worker_part` to the worker owner and books `proxy_part` as commission
    /// (token delta × worker fee, token delta × (price − worker fee)).
    PayoutRequest {
        /// nanoTON for the worker owner.
        worker_part: NanoTon,
        /// nanoTON of commission for the proxy.
        proxy_part: NanoTon,
        /// Where the proxy contract returns the excess (chosen by the voucher's submitter).
        excess_to: TonAddress,
    },
    /// A payload opcode the reference does not know (it logs and ignores it).
    Unknown(u32),
}

/// A verified `worker_proxy_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerProxyRequest {
    /// Query id.
    pub qid: u64,
    /// Worker owner.
    pub worker_owner: TonAddress,
    /// The worker contract (= the checked sender).
    pub worker_sc: TonAddress,
    /// 0 active, 1 closing, 2 or 3 closed.
    pub status: u8,
    /// Tokens paid out so far.
    pub tokens: u64,
    /// Optional payload.
    pub payload: Option<WorkerProxyPayload>,
}

/// A message received by the proxy contract, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyInbound {
    /// From a client contract.
    Client(ClientProxyRequest),
    /// From a worker contract.
    Worker(WorkerProxyRequest),
    /// The proxy's own `save_state`.
    SaveState {
        /// Query id.
        qid: u64,
        /// Proxy DB seqno.
        seqno: i32,
        /// Proxy session hash.
        session_hash: [u8; 32],
    },
    /// Any other opcode (or a `do_not_process` without `save_state`); nothing to do.
    Other {
        /// Opcode.
        op: u32,
        /// Query id.
        qid: u64,
    },
}

/// Why an inbound message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Malformed body.
    #[error(transparent)]
    Cell(#[from] CellError),
    /// The sender is not the contract the message claims to come from.
    #[error("message from {found}, expected {expected}")]
    WrongSender {
        /// Expected address (hex form).
        expected: String,
        /// Actual sender (hex form).
        found: String,
    },
}

fn check_sender(expected: &TonAddress, source: &TonAddress) -> Result<(), InboundError> {
    if expected != source {
        return Err(InboundError::WrongSender {
            expected: expected.to_hex(),
            found: source.to_hex(),
        });
    }
    Ok(())
}

fn derive(ctx: &ProxyContractContext<'_>, spec: ContractSpec<'_>) -> Result<TonAddress, CellError> {
    Ok(derive_contract_address(
        spec,
        ctx.proxy_key,
        ctx.params,
        ctx.codes,
    )?)
}

/// Classifies and checks a message body received by the proxy contract from `source`.
pub fn parse_proxy_inbound(
    ctx: &ProxyContractContext<'_>,
    source: &TonAddress,
    body: &Cell,
) -> Result<ProxyInbound, InboundError> {
    let mut p = body.parser();
    let op = p.load_u32(32).map_err(CellError::from)?;
    let qid = p.load_u64(64).map_err(CellError::from)?;
    match op {
        op::CLIENT_PROXY_REQUEST => {
            let client_owner = load_addr(&mut p)?;
            let client_sc = derive(
                ctx,
                ContractSpec::Client {
                    owner: &client_owner,
                    proxy_sc: ctx.proxy_sc,
                },
            )?;
            check_sender(&client_sc, source)?;
            let state_cell = p.next_reference().map_err(CellError::from)?;
            let mut s = state_cell.parser();
            let state = ClientStateUpdate {
                status: s.load_u8(2).map_err(CellError::from)?,
                balance: load_coins(&mut s)?,
                stake: load_coins(&mut s)?,
                tokens_used: s.load_u64(64).map_err(CellError::from)?,
                secret_hash: load_bits256(&mut s)?,
            };
            expect_end(&mut s, "the client state")?;
            let payload = match crate::cells::load_maybe_ref(&mut p)? {
                None => None,
                Some(cell) => Some(client_payload(&cell)?),
            };
            expect_end(&mut p, "client_proxy_request")?;
            Ok(ProxyInbound::Client(ClientProxyRequest {
                qid,
                client_owner,
                client_sc,
                state,
                payload,
            }))
        }
        op::WORKER_PROXY_REQUEST => {
            let worker_owner = load_addr(&mut p)?;
            let worker_sc = derive(
                ctx,
                ContractSpec::Worker {
                    owner: &worker_owner,
                    proxy_sc: ctx.proxy_sc,
                },
            )?;
            check_sender(&worker_sc, source)?;
            let status = p.load_u8(2).map_err(CellError::from)?;
            let tokens = p.load_u64(64).map_err(CellError::from)?;
            let payload = match crate::cells::load_maybe_ref(&mut p)? {
                None => None,
                Some(cell) => Some(worker_payload(&cell)?),
            };
            expect_end(&mut p, "worker_proxy_request")?;
            Ok(ProxyInbound::Worker(WorkerProxyRequest {
                qid,
                worker_owner,
                worker_sc,
                status,
                tokens,
                payload,
            }))
        }
        op::DO_NOT_PROCESS => {
            check_sender(ctx.own_wallet, source)?;
            let inner_op = p.load_u32(32).map_err(CellError::from)?;
            if inner_op != op::PROXY_SAVE_STATE {
                return Ok(ProxyInbound::Other { op, qid });
            }
            let seqno = p.load_i32(32).map_err(CellError::from)?;
            let session_hash = load_bits256(&mut p)?;
            expect_end(&mut p, "save_state")?;
            Ok(ProxyInbound::SaveState {
                qid,
                seqno,
                session_hash,
            })
        }
        _ => Ok(ProxyInbound::Other { op, qid }),
    }
}

/// The `client_proxy_request` a **client contract** sends to its proxy contract (the layout
/// [`parse_proxy_inbound`] reads). Runners never send it; the mock chain builds it to
/// simulate the contract forwarding a top-up or a registration.
pub fn client_proxy_request_body(
    qid: u64,
    owner: &TonAddress,
    state: &ClientStateUpdate,
    payload: Option<&ClientProxyPayload>,
) -> Result<Cell, CellError> {
    let mut st = CellBuilder::new();
    st.store_u8(2, state.status)?;
    store_coins(&mut st, state.balance)?;
    store_coins(&mut st, state.stake)?;
    st.store_u64(64, state.tokens_used)?;
    st.store_slice(&state.secret_hash)?;
    let state_cell = finish(st)?;
    let payload_cell = match payload {
        None => None,
        Some(p) => {
            let mut b = CellBuilder::new();
            match p {
                ClientProxyPayload::TopUp { amount, excess_to } => {
                    money_payload(&mut b, op::CLIENT_PROXY_TOP_UP, *amount, excess_to)?
                }
                ClientProxyPayload::Register { nonce } => {
                    b.store_u32(32, op::CLIENT_PROXY_REGISTER)?;
                    b.store_u64(64, *nonce)?;
                }
                ClientProxyPayload::RefundGranted { amount, excess_to } => {
                    money_payload(&mut b, op::CLIENT_PROXY_REFUND_GRANTED, *amount, excess_to)?
                }
                ClientProxyPayload::RefundForce { amount, excess_to } => {
                    money_payload(&mut b, op::CLIENT_PROXY_REFUND_FORCE, *amount, excess_to)?
                }
                ClientProxyPayload::Unknown(other) => {
                    b.store_u32(32, *other)?;
                }
            };
            Some(finish(b)?)
        }
    };
    let mut b = CellBuilder::new();
    b.store_u32(32, op::CLIENT_PROXY_REQUEST)?;
    b.store_u64(64, qid)?;
    store_addr(&mut b, owner)?;
    b.store_reference(&Arc::new(state_cell))?;
    b.store_bit(payload_cell.is_some())?;
    if let Some(cell) = payload_cell {
        b.store_reference(&Arc::new(cell))?;
    }
    finish(b)
}

/// The `worker_proxy_request` a **worker contract** sends to its proxy contract (the layout
/// [`parse_proxy_inbound`] reads). Runners never send it; the mock chain builds it to
/// simulate the contract reporting a payout.
pub fn worker_proxy_request_body(
    qid: u64,
    owner: &TonAddress,
    status: u8,
    tokens: u64,
    payload: Option<&WorkerProxyPayload>,
) -> Result<Cell, CellError> {
    let payload_cell = match payload {
        None => None,
        Some(p) => {
            let mut b = CellBuilder::new();
            match p {
                WorkerProxyPayload::PayoutRequest {
                    worker_part,
                    proxy_part,
                    excess_to,
                } => {
                    b.store_u32(32, op::WORKER_PROXY_PAYOUT_REQUEST)?;
                    store_coins(&mut b, *worker_part)?;
                    store_coins(&mut b, *proxy_part)?;
                    store_addr(&mut b, excess_to)?;
                }
                WorkerProxyPayload::Unknown(other) => {
                    b.store_u32(32, *other)?;
                }
            };
            Some(finish(b)?)
        }
    };
    let mut b = CellBuilder::new();
    b.store_u32(32, op::WORKER_PROXY_REQUEST)?;
    b.store_u64(64, qid)?;
    store_addr(&mut b, owner)?;
    b.store_u8(2, status)?;
    b.store_u64(64, tokens)?;
    b.store_bit(payload_cell.is_some())?;
    if let Some(cell) = payload_cell {
        b.store_reference(&Arc::new(cell))?;
    }
    finish(b)
}

/// `op amount:coins send_excesses_to:addr`: the TOPUP and REFUND payloads.
fn money_payload(
    b: &mut CellBuilder,
    payload_op: u32,
    amount: NanoTon,
    excess_to: &TonAddress,
) -> Result<(), CellError> {
    b.store_u32(32, payload_op)?;
    store_coins(b, amount)?;
    store_addr(b, excess_to)
}

fn client_payload(cell: &Cell) -> Result<ClientProxyPayload, CellError> {
    let mut p = cell.parser();
    let payload_op = p.load_u32(32)?;
    let mut money = |what: &str| -> Result<(NanoTon, TonAddress), CellError> {
        let amount = load_coins(&mut p)?;
        let excess_to = load_addr(&mut p)?;
        expect_end(&mut p, what)?;
        Ok((amount, excess_to))
    };
    Ok(match payload_op {
        op::CLIENT_PROXY_TOP_UP => {
            let (amount, excess_to) = money("the top-up payload")?;
            ClientProxyPayload::TopUp { amount, excess_to }
        }
        op::CLIENT_PROXY_REGISTER => ClientProxyPayload::Register {
            nonce: p.load_u64(64)?,
        },
        op::CLIENT_PROXY_REFUND_GRANTED => {
            let (amount, excess_to) = money("the refund_granted payload")?;
            ClientProxyPayload::RefundGranted { amount, excess_to }
        }
        op::CLIENT_PROXY_REFUND_FORCE => {
            let (amount, excess_to) = money("the refund_force payload")?;
            ClientProxyPayload::RefundForce { amount, excess_to }
        }
        other => ClientProxyPayload::Unknown(other),
    })
}

fn worker_payload(cell: &Cell) -> Result<WorkerProxyPayload, CellError> {
    let mut p = cell.parser();
    let payload_op = p.load_u32(32)?;
    Ok(match payload_op {
        op::WORKER_PROXY_PAYOUT_REQUEST => {
            let worker_part = load_coins(&mut p)?;
            let proxy_part = load_coins(&mut p)?;
            let excess_to = load_addr(&mut p)?;
            expect_end(&mut p, "the worker payout payload")?;
            WorkerProxyPayload::PayoutRequest {
                worker_part,
                proxy_part,
                excess_to,
            }
        }
        other => WorkerProxyPayload::Unknown(other),
    })
}

#[cfg(test)]
#[path = "observed_tests.rs"]
mod tests;
