//! What the mock's client and worker contracts tell their proxy contract after a state
//! change. The reference proxy learns its clients' and workers' states from these
//! messages (`client_proxy_request` carrying the client contract's state, and
//! `worker_proxy_request` carrying the worker's paid tokens), so the simulation sends one
//! for every message that changes such a contract. **Simulated**: which payload the real
//! contracts attach to each operation is taken from the opcode names (`top_up`, `register`,
//! `refund_granted`, `payout_request`); the other operations carry no payload here.

use std::sync::Arc;

use cocoon_ledger::address::ContractKind;
use cocoon_ledger::ledger::{ContractStatus, Ledger};
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use super::exec::address_of;
use super::{MockChain, MockState};
use crate::cells::load_addr;
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

/// After `body` was applied to the contract `dest`: the notification its proxy contract
/// receives (a transaction on the proxy contract from `dest`), if the operation changed a
/// client or worker contract. `worker_tokens_before` is a worker contract's token count
/// before the body was applied (the payout payload carries the parts of the delta).
pub(super) fn notify_proxy(
    chain: &MockChain,
    st: &mut MockState,
    dest: &TonAddress,
    now: u64,
    body: &Cell,
    worker_tokens_before: Option<u64>,
) -> Result<(), String> {
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
            let payload = match opcode {
                op::OWNER_CLIENT_REGISTER => Some(ClientProxyPayload::Register {
                    nonce: p.load_u64(64).map_err(|e| e.to_string())?,
                }),
                op::EXT_CLIENT_TOP_UP => Some(ClientProxyPayload::TopUp),
                op::EXT_CLIENT_GRANT_REFUND_SIGNED => Some(ClientProxyPayload::RefundGranted),
                op::OWNER_CLIENT_CHANGE_SECRET_HASH
                | op::EXT_CLIENT_CHARGE_SIGNED
                | op::OWNER_CLIENT_REQUEST_REFUND
                | op::OWNER_CLIENT_WITHDRAW => None,
                _ => return Ok(()),
            };
            let state = chain.engine.client_state(dest).map_err(e)?;
            let update = ClientStateUpdate {
                status: status_bits(state.status),
                balance: state.balance,
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
