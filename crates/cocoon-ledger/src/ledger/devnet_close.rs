//! The devnet's close-flow operations of an old proxy contract: the proxy-signed final
//! refund of a client contract and last payout of a worker contract. Both settle up to the
//! signed token total exactly like a charge or payout (with the contract's own prices), then
//! close the contract; a total at or below what is already settled settles nothing but
//! still closes.

use tonlib_core::TonAddress;

use super::{book_charge, clamped_charge, key, pay_worker, DevnetState};
use crate::ledger::{ContractStatus, LedgerError, VoucherSettlement};
use crate::voucher::{self, VoucherKind};

/// `ext_client_grant_refund_signed`: charge up to the signed total, then close and return
/// balance + stake to the owner.
pub(super) fn grant_refund(
    s: &mut DevnetState,
    client_sc: &TonAddress,
    signed: &[u8],
) -> Result<VoucherSettlement, LedgerError> {
    let client = s
        .clients
        .get(&key(client_sc))
        .ok_or_else(|| LedgerError::UnknownContract(key(client_sc)))?
        .clone();
    if client.status == ContractStatus::Closed {
        return Err(LedgerError::WrongState("client contract is closed"));
    }
    let proxy_key = s.proxy_key(&client.proxy_sc)?;
    let granted = voucher::verify(
        signed,
        VoucherKind::ClientGrantRefund,
        client_sc,
        &proxy_key,
    )?;
    let offered = granted.terms.tokens;
    let tokens = offered.saturating_sub(client.tokens_used);
    let prices = s.prices_of(client.params_version)?;
    // Clamped as a charge (contracts.md §3.1.9 charges as §3.1.8): never refused.
    let (balance, stake, amount) = clamped_charge(&client, prices.client_charge(tokens));
    if tokens > 0 {
        let proxy = s
            .proxies
            .get_mut(&client.proxy_sc)
            .ok_or_else(|| LedgerError::UnknownContract(client.proxy_sc.clone()))?;
        if proxy.status == ContractStatus::Closed {
            return Err(LedgerError::WrongState("proxy contract is closed"));
        }
        book_charge(proxy, prices.worker_payout(tokens), amount);
    }
    let refund = balance + stake;
    if let Some(c) = s.clients.get_mut(&key(client_sc)) {
        c.balance = 0;
        c.stake = 0;
        c.tokens_used = c.tokens_used.max(offered);
        c.status = ContractStatus::Closed;
    }
    *s.wallets.entry(client.owner.clone()).or_insert(0) += refund;
    tracing::info!(
        client_sc = %key(client_sc),
        tokens,
        amount,
        refund,
        "devnet: client charged, refunded and closed by the proxy"
    );
    Ok(VoucherSettlement { tokens, amount })
}

/// `ext_worker_last_payout_request_signed`: pay up to the signed total, then close.
pub(super) fn last_payout(
    s: &mut DevnetState,
    worker_sc: &TonAddress,
    signed: &[u8],
) -> Result<VoucherSettlement, LedgerError> {
    let worker = s
        .workers
        .get(&key(worker_sc))
        .ok_or_else(|| LedgerError::UnknownContract(key(worker_sc)))?
        .clone();
    if worker.status == ContractStatus::Closed {
        return Err(LedgerError::WrongState("worker contract is closed"));
    }
    let proxy_key = s.proxy_key(&worker.proxy_sc)?;
    let signed = voucher::verify(signed, VoucherKind::WorkerLastPayout, worker_sc, &proxy_key)?;
    let offered = signed.terms.tokens;
    let tokens = offered.saturating_sub(worker.tokens);
    let due = s.prices_of(worker.params_version)?.worker_payout(tokens);
    let mut amount = 0;
    if tokens > 0 {
        let proxy = s
            .proxies
            .get_mut(&worker.proxy_sc)
            .ok_or_else(|| LedgerError::UnknownContract(worker.proxy_sc.clone()))?;
        // As a payout: a proxy contract that cannot pay pays nothing, the voucher is used up.
        amount = pay_worker(proxy, due);
    }
    if let Some(w) = s.workers.get_mut(&key(worker_sc)) {
        w.tokens = w.tokens.max(offered);
        w.status = ContractStatus::Closed;
    }
    *s.wallets.entry(worker.owner.clone()).or_insert(0) += amount;
    tracing::info!(
        worker_sc = %key(worker_sc),
        tokens,
        amount,
        "devnet: worker paid its last payout and closed by the proxy"
    );
    Ok(VoucherSettlement { tokens, amount })
}
