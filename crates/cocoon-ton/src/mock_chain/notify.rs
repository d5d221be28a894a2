//! What the mock's client and worker contracts tell their proxy contract: the notices the
//! contract model ([`cocoon_ledger::contracts`]) emitted while the engine applied a
//! message, encoded as the real contracts encode them (`client_proxy_request` with the
//! client's state after the update, `worker_proxy_request` with the payout amounts; checked
//! against the real code in `tests/real_contracts/c_notifications.rs`) and recorded as
//! transactions on the proxy contract. The model decides which notice and which amounts;
//! only the excess address, which travels in the inbound body, is read here.

use std::sync::Arc;

use cocoon_ledger::contracts::{ClientPayload, Emitted};
use cocoon_ledger::ledger::ContractStatus;
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use super::exec::address_of;
use super::{MockChain, MockState};
use crate::cells::{load_addr, load_bits256, load_coins};
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

/// The `send_excesses_to` address of an inbound body `op | query_id | …`.
fn excess_address(opcode: u32, body: &Cell) -> Result<TonAddress, String> {
    let s = |e: tonlib_core::cell::TonCellError| e.to_string();
    let c = |e: crate::cells::CellError| e.to_string();
    let mut parser = body.parser();
    let p = &mut parser;
    p.skip_bits(96).map_err(s)?;
    match opcode {
        op::EXT_CLIENT_TOP_UP => {
            load_coins(p).map_err(c)?;
        }
        op::OWNER_CLIENT_REGISTER => {
            p.load_u64(64).map_err(s)?;
        }
        op::OWNER_CLIENT_CHANGE_SECRET_HASH => {
            load_bits256(p).map_err(c)?;
        }
        _ => {}
    }
    load_addr(p).map_err(c)
}

/// After the engine applied `body` to the contract `dest`: each notice the model emitted
/// becomes a transaction on its proxy contract, from `dest`.
pub(super) fn notify_proxy(
    chain: &MockChain,
    st: &mut MockState,
    dest: &TonAddress,
    now: u64,
    body: &Cell,
) -> Result<(), String> {
    let emitted = chain.engine.devnet_take_emitted();
    let mut p = body.parser();
    let (Ok(opcode), Ok(qid)) = (p.load_u32(32), p.load_u64(64)) else {
        return Ok(());
    };
    for msg in emitted {
        let (proxy_sc, notification) = match msg {
            Emitted::ClientNotice {
                owner,
                proxy_sc,
                report,
                payload,
            } => {
                let excess = || excess_address(opcode, body);
                let payload = match payload {
                    None => None,
                    Some(ClientPayload::Register { nonce }) => {
                        Some(ClientProxyPayload::Register { nonce })
                    }
                    Some(ClientPayload::TopUp { amount }) => Some(ClientProxyPayload::TopUp {
                        amount,
                        excess_to: excess()?,
                    }),
                    Some(ClientPayload::RefundGranted { amount }) => {
                        Some(ClientProxyPayload::RefundGranted {
                            amount,
                            excess_to: excess()?,
                        })
                    }
                    Some(ClientPayload::RefundForce { amount }) => {
                        Some(ClientProxyPayload::RefundForce {
                            amount,
                            excess_to: excess()?,
                        })
                    }
                };
                let update = ClientStateUpdate {
                    status: status_bits(report.status),
                    balance: report.balance,
                    stake: report.stake,
                    tokens_used: report.tokens_used,
                    secret_hash: report.secret_hash,
                };
                let body =
                    client_proxy_request_body(qid, &address_of(&owner)?, &update, payload.as_ref())
                        .map_err(|e| e.to_string())?;
                (address_of(&proxy_sc)?, body)
            }
            Emitted::WorkerNotice {
                owner,
                proxy_sc,
                status,
                tokens,
                payout,
            } => {
                let payload = match payout {
                    Some(payout) => Some(WorkerProxyPayload::PayoutRequest {
                        worker_part: payout.worker_part,
                        proxy_part: payout.proxy_part,
                        excess_to: excess_address(opcode, body)?,
                    }),
                    None => None,
                };
                let body = worker_proxy_request_body(
                    qid,
                    &address_of(&owner)?,
                    status_bits(status),
                    tokens,
                    payload.as_ref(),
                )
                .map_err(|e| e.to_string())?;
                (address_of(&proxy_sc)?, body)
            }
            // Payouts go to wallets (the engine credits them).
            Emitted::Payout { .. } => continue,
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
    }
    Ok(())
}
