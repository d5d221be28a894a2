//! What the mock's client and worker contracts tell their proxy contract: the notices the
//! contract model ([`cocoon_ledger::contracts`]) emitted while the engine applied a
//! message, encoded as the real contracts encode them (`client_proxy_request` with the
//! client's state after the update, `worker_proxy_request` with the payout amounts; checked
//! against the real code in `tests/real_contracts/c_notifications.rs`) and recorded as
//! transactions on the proxy contract. The model decides which notice and which amounts;
//! only the excess address, which travels in the inbound body, is read here.

use std::sync::Arc;

use cocoon_ledger::contracts::Emitted;
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use super::{MockChain, MockState};
use crate::cells::{load_addr, load_bits256, load_coins};
use crate::chain::InMsg;
use crate::messages::model_notice::model_notice_body;
use crate::messages::op;

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
    for msg in &emitted {
        if matches!(msg, Emitted::Payout { .. }) {
            continue;
        }
        let excess_to = excess_address(opcode, body)?;
        let Some((proxy_sc, notification)) =
            model_notice_body(msg, qid, &excess_to).map_err(|e| e.to_string())?
        else {
            continue;
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
