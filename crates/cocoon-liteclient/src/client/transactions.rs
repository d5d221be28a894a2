//! `transactions`: a page of an account's transaction chain, checked link by link.

use super::{unexpected, ClientError, LiteClient, MAX_TRANSACTIONS_PER_QUERY};
use crate::account::{transaction_messages, Transaction};
use crate::connection::QueryError;
use crate::proof::{is_complete, transaction_header, transaction_roots, ProofError};
use crate::tl::{AccountId, LiteQuery, LiteRequest, LiteResponse};

impl LiteClient {
    /// Up to `count` (at most [`MAX_TRANSACTIONS_PER_QUERY`]) transactions of `address`,
    /// newest first, starting with the one at `lt`/`hash` and following `prev` links. To
    /// page, call again with the last one's `prev_lt`/`prev_hash`; `lt == 0` means no more.
    ///
    /// Each transaction's cell hash is checked against the expected hash, so the whole page
    /// is as trustworthy as the starting `lt`/`hash` (e.g. from a proven account state).
    pub async fn transactions(
        &self,
        address: &AccountId,
        lt: u64,
        hash: [u8; 32],
        count: u32,
    ) -> Result<Vec<Transaction>, ClientError> {
        if lt == 0 || count == 0 {
            return Ok(Vec::new());
        }
        let count = count.min(MAX_TRANSACTIONS_PER_QUERY);
        let query = LiteQuery {
            wait_masterchain_seqno: None,
            request: LiteRequest::GetTransactions {
                count,
                account: *address,
                lt,
                hash,
            },
        };
        self.with_rotation(&query, |response| {
            verify_transactions(address, lt, hash, count, response)
        })
        .await
    }
}

fn verify_transactions(
    address: &AccountId,
    lt: u64,
    hash: [u8; 32],
    count: u32,
    response: LiteResponse,
) -> Result<Vec<Transaction>, QueryError> {
    let LiteResponse::TransactionList { ids, transactions } = response else {
        return Err(unexpected(&response));
    };
    let roots = if transactions.is_empty() {
        Vec::new()
    } else {
        transaction_roots(&transactions)?
    };
    if roots.len() != ids.len() || roots.len() > count as usize {
        return Err(QueryError::Unexpected(format!(
            "{} transactions with {} block ids",
            roots.len(),
            ids.len()
        )));
    }
    if roots.is_empty() {
        return Err(QueryError::Unexpected(
            "no transactions returned for a known transaction".into(),
        ));
    }
    let mut expected = (lt, hash);
    let mut out = Vec::with_capacity(roots.len());
    for (cell, block) in roots.into_iter().zip(ids) {
        if expected.0 == 0 {
            return Err(QueryError::Unexpected(
                "transactions past the first one of the account".into(),
            ));
        }
        let cell_hash: [u8; 32] = cell.cell_hash().into();
        if !is_complete(&cell) || cell_hash != expected.1 {
            return Err(ProofError::Mismatch(format!(
                "transaction at lt {} has an unexpected hash",
                expected.0
            ))
            .into());
        }
        let header = transaction_header(&cell).map_err(ProofError::from)?;
        let (tx_lt, prev_hash, prev_lt, now) =
            (header.lt, header.prev_hash, header.prev_lt, header.now);
        if header.account != address.id || tx_lt != expected.0 {
            return Err(
                ProofError::Mismatch("transaction is for another account or lt".into()).into(),
            );
        }
        let (in_msg, out_msgs) = transaction_messages(&cell).map_err(ProofError::from)?;
        out.push(Transaction {
            lt: tx_lt,
            hash: cell_hash,
            prev_lt,
            prev_hash,
            now,
            block,
            in_msg,
            out_msgs,
            cell,
        });
        expected = (prev_lt, prev_hash);
    }
    Ok(out)
}
