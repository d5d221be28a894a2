//! What the mock's client and worker contracts tell their proxy contract after a state
//! change. The reference proxy learns its clients' and workers' states from these
//! messages (`client_proxy_request` carrying the client contract's state, and
//! `worker_proxy_request` carrying the worker's paid tokens), so the simulation sends one
//! for every message that changes such a contract, with the payload the real contracts
//! attach (contracts.md §3.1, checked against the real code in
//! `tests/real_contracts/c_notifications.rs`):
//! * `ext_client_top_up`: TOPUP `amount, send_excesses_to`;
//! * `owner_client_register`: REGISTER `nonce`;
//! * `owner_client_withdraw`, and a first `owner_client_request_refund` with money above the
//!   stake: REFUND(G) of that money (the refund is immediate);
//! * a second `owner_client_request_refund` (after the unlock time): REFUND(F) of the whole
//!   balance, which the proxy contract caps by its stake;
//! * `ext_client_grant_refund_signed`: REFUND(G) of what is left after the charge;
//! * charges, secret changes and a first refund request with nothing above the stake: no
//!   payload (INFO);
//! * a worker payout: `payout_request worker_part, proxy_part, send_excesses_to`.
//!
//! The client state in the message is the real contract's: its `balance` counts the stake
//! (the engine keeps the stake as separate money, so it reports `balance + stake`).

use std::sync::Arc;

use cocoon_ledger::address::ContractKind;
use cocoon_ledger::ledger::{ClientContractState, ContractStatus, Ledger};
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use super::exec::address_of;
use super::{MockChain, MockState};
use crate::cells::{load_addr, load_coins};
use crate::chain::InMsg;
use crate::messages::{
    client_proxy_request_body, op, worker_proxy_request_body, ClientProxyPayload,
    ClientStateUpdate, WorkerProxyPayload,
};

fn status_bits(status: ContractStatus) -> u8 {
    match status {
        ContractStatus::Active => 0,
        ContractStatus::Closing => 1,
        ContractStatus::Closed => 2,
    }
}

/// The contract `dest` before a message was applied to it (the payloads carry deltas).
pub(super) struct Before {
    /// A worker contract's paid token count.
    pub worker_tokens: Option<u64>,
    /// A client contract's state.
    pub client: Option<ClientContractState>,
}

/// After `body` was applied to the contract `dest`: the notification its proxy contract
/// receives (a transaction on the proxy contract from `dest`), if the operation changed a
/// client or worker contract. `before` is the contract before the body was applied.
pub(super) fn notify_proxy(
    chain: &MockChain,
    st: &mut MockState,
    dest: &TonAddress,
    now: u64,
    body: &Cell,
    before: &Before,
) -> Result<(), String> {
    let worker_tokens_before = before.worker_tokens;
    let Some(kind) = st.contracts.get(&dest.to_hex()).map(|d| d.kind) else {
        return Ok(());
    };
    let mut p = body.parser();
    let (Ok(opcode), Ok(qid)) = (p.load_u32(32), p.load_u64(64)) else {
        return Ok(());
    };
    let e = |e: cocoon_ledger::ledger::LedgerError| e.to_string();
    let (proxy_sc, notification) = match kind {
        ContractKind::Client => {
            let state = chain.engine.client_state(dest).map_err(e)?;
            let was = before
                .client
                .as_ref()
                .ok_or("no client state before the message")?;
            let s = |e: tonlib_core::cell::TonCellError| e.to_string();
            let payload = match opcode {
                op::OWNER_CLIENT_REGISTER => Some(ClientProxyPayload::Register {
                    nonce: p.load_u64(64).map_err(s)?,
                }),
                op::EXT_CLIENT_TOP_UP => {
                    let amount = load_coins(&mut p).map_err(|e| e.to_string())?;
                    let excess_to = load_addr(&mut p).map_err(|e| e.to_string())?;
                    Some(ClientProxyPayload::TopUp { amount, excess_to })
                }
                // Withdraw and a first refund request return the money above the stake
                // at once; a first request with nothing above it only reports Closing.
                op::OWNER_CLIENT_WITHDRAW | op::OWNER_CLIENT_REQUEST_REFUND
                    if was.status == ContractStatus::Active =>
                {
                    let excess_to = load_addr(&mut p).map_err(|e| e.to_string())?;
                    let amount = was.balance.saturating_sub(state.balance);
                    (amount > 0).then_some(ClientProxyPayload::RefundGranted { amount, excess_to })
                }
                // The second request closes: the whole balance (stake included) is asked
                // of the proxy contract.
                op::OWNER_CLIENT_REQUEST_REFUND => {
                    let excess_to = load_addr(&mut p).map_err(|e| e.to_string())?;
                    Some(ClientProxyPayload::RefundForce {
                        amount: was.balance + was.stake,
                        excess_to,
                    })
                }
                // The charge up to the signed total, then everything left comes back.
                op::EXT_CLIENT_GRANT_REFUND_SIGNED => {
                    let excess_to = load_addr(&mut p).map_err(|e| e.to_string())?;
                    let tokens = state.tokens_used.saturating_sub(was.tokens_used);
                    let charged = chain
                        .engine
                        .root_config()
                        .map_err(e)?
                        .params
                        .prices()
                        .map_err(|e| e.to_string())?
                        .client_charge(tokens);
                    Some(ClientProxyPayload::RefundGranted {
                        amount: (was.balance + was.stake).saturating_sub(charged),
                        excess_to,
                    })
                }
                op::OWNER_CLIENT_CHANGE_SECRET_HASH | op::EXT_CLIENT_CHARGE_SIGNED => None,
                _ => return Ok(()),
            };
            let update = ClientStateUpdate {
                status: status_bits(state.status),
                balance: state.balance + state.stake,
                stake: state.stake,
                tokens_used: state.tokens_used,
                secret_hash: state.secret_hash,
            };
            let owner = address_of(&state.owner)?;
            let body = client_proxy_request_body(qid, &owner, &update, payload.as_ref())
                .map_err(|e| e.to_string())?;
            (address_of(&state.proxy_sc)?, body)
        }
        ContractKind::Worker => {
            if !matches!(
                opcode,
                op::EXT_WORKER_PAYOUT_REQUEST_SIGNED | op::EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED
            ) {
                return Ok(());
            }
            let state = chain.engine.worker_state(dest).map_err(e)?;
            let owner = address_of(&state.owner)?;
            let excess_to = load_addr(&mut p).map_err(|e| e.to_string())?;
            let delta = state
                .tokens
                .saturating_sub(worker_tokens_before.unwrap_or(state.tokens));
            let prices = chain
                .engine
                .root_config()
                .map_err(e)?
                .params
                .prices()
                .map_err(|e| e.to_string())?;
            let payload = WorkerProxyPayload::PayoutRequest {
                worker_part: prices.worker_payout(delta),
                proxy_part: prices.proxy_commission(delta),
                excess_to,
            };
            let body = worker_proxy_request_body(
                qid,
                &owner,
                status_bits(state.status),
                state.tokens,
                Some(&payload),
            )
            .map_err(|e| e.to_string())?;
            (address_of(&state.proxy_sc)?, body)
        }
        ContractKind::Proxy => return Ok(()),
    };
    MockChain::record_tx(
        st,
        &proxy_sc,
        now,
        InMsg {
            source: Some(dest.clone()),
            body: Arc::new(notification),
            value: 0,
        },
    );
    Ok(())
}
