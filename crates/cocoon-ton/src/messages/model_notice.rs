//! The bodies of the notices the contract model ([`cocoon_ledger::contracts`]) emits, encoded
//! as the real client and worker contracts encode them: the mock chain records them as
//! transactions on the proxy contract, and the differential test compares them bit for bit
//! with what the real code sends.

use cocoon_ledger::contracts::{ClientPayload, Emitted};
use cocoon_ledger::ledger::ContractStatus;
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use super::{
    client_proxy_request_body, worker_proxy_request_body, ClientProxyPayload, ClientStateUpdate,
    WorkerProxyPayload,
};
use cocoon_ledger::address::parse_address;

use crate::cells::{layout, CellError};

/// The 2-bit state code of a contract status.
pub fn status_code(status: ContractStatus) -> u8 {
    match status {
        ContractStatus::Active => 0,
        ContractStatus::Closing => 1,
        ContractStatus::Closed => 2,
    }
}

/// The body of a model notice (`client_proxy_request` / `worker_proxy_request`) with the
/// inbound `qid` and `excess_to` (from the inbound body), and the proxy contract it goes to;
/// `None` for a payout (not a notice).
pub fn model_notice_body(
    notice: &Emitted,
    qid: u64,
    excess_to: &TonAddress,
) -> Result<Option<(TonAddress, Cell)>, CellError> {
    let addr = |hex: &str| {
        parse_address(hex)
            .map(|f| f.address)
            .map_err(|e| layout(e.to_string()))
    };
    match notice {
        Emitted::ClientNotice {
            owner,
            proxy_sc,
            report,
            payload,
        } => {
            let excess_to = excess_to.clone();
            let payload = payload.map(|p| match p {
                ClientPayload::Register { nonce } => ClientProxyPayload::Register { nonce },
                ClientPayload::TopUp { amount } => ClientProxyPayload::TopUp { amount, excess_to },
                ClientPayload::RefundGranted { amount } => {
                    ClientProxyPayload::RefundGranted { amount, excess_to }
                }
                ClientPayload::RefundForce { amount } => {
                    ClientProxyPayload::RefundForce { amount, excess_to }
                }
            });
            let update = ClientStateUpdate {
                status: status_code(report.status),
                balance: report.balance,
                stake: report.stake,
                tokens_used: report.tokens_used,
                secret_hash: report.secret_hash,
            };
            let body = client_proxy_request_body(qid, &addr(owner)?, &update, payload.as_ref())?;
            Ok(Some((addr(proxy_sc)?, body)))
        }
        Emitted::WorkerNotice {
            owner,
            proxy_sc,
            status,
            tokens,
            payout,
        } => {
            let payload = payout.map(|p| WorkerProxyPayload::PayoutRequest {
                worker_part: p.worker_part,
                proxy_part: p.proxy_part,
                excess_to: excess_to.clone(),
            });
            let body = worker_proxy_request_body(
                qid,
                &addr(owner)?,
                status_code(*status),
                *tokens,
                payload.as_ref(),
            )?;
            Ok(Some((addr(proxy_sc)?, body)))
        }
        Emitted::Payout { .. } => Ok(None),
    }
}
