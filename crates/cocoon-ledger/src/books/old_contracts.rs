//! Old proxy contracts in the books (runners.md §8, `close_all` and `OldProxyContract`):
//! when the proxy leaves its contract (root `params_version` raised, or an operator
//! request), [`Books::retire_to_old_contract`] moves every client and worker row into one
//! [`OldContractRecord`] of that contract and empties the live rows, in **one** durable
//! transaction that also appends a commit (so the commit chain and the state digest still
//! verify at open). The close machine then updates the record after each step it has seen
//! take effect ([`Books::put_old_contract`]) and deletes it when the contract is closed
//! ([`Books::delete_old_contract`]).
//!
//! Records are sealed like every row (key = the old contract's address) and carry a
//! `format` number; books written before this table existed open unchanged (the table is
//! created empty). Old-contract rows are not part of the commit state digest: a deleted or
//! replaced older signed record is not detected at open (the machine re-reads the contracts
//! on the ledger before each step, so a stale record only repeats an observed step).

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{decode, integrity, json, state_digest};
use crate::books::seal::{seal, sha256};
use crate::books::{
    storage, Books, BooksError, CommitRecord, EntityKind, Head, CLIENTS, COMMITS, COMMITS_KEPT,
    HEAD_KEY, META, OLD_CONTRACTS, WORKERS,
};
use crate::root_config::RootParams;

/// Current format of [`OldContractRecord`].
pub const OLD_CONTRACT_FORMAT: u32 = 1;

/// Where the close of an old proxy contract stands (the reference's `ClosingState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OldContractStep {
    /// Nothing sent yet: the signed close request comes first.
    NotStarted,
    /// Close request seen; a final refund per client (front of `clients` first).
    StartedClients,
    /// Every client settled; a last payout per worker (front of `workers` first).
    StartedWorkers,
    /// Every worker paid; the close completion after `close_at`.
    Closing,
}

/// A client or worker of an old contract still to settle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldParty {
    /// Owner wallet address text.
    pub owner: String,
    /// Its contract at the old proxy contract (address text; may be empty when unknown).
    pub sc_address: String,
    /// Token total to settle (`tokens_max` as last committed to the books).
    pub tokens: u64,
}

/// An old proxy contract being closed, as the books keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldContractRecord {
    /// Record format ([`OLD_CONTRACT_FORMAT`]).
    pub format: u32,
    /// The old proxy contract (address text).
    pub proxy_sc: String,
    /// Root params the old contracts were deployed with (prices, delays), when known (not
    /// when the rows were found at start-up to belong to an earlier contract). For the
    /// operator's information: the close steps read everything they need from the ledger.
    pub params: Option<RootParams>,
    /// Progress.
    pub step: OldContractStep,
    /// When the close completion may be sent (unix seconds, ledger time; 0 until the close
    /// request is seen).
    pub close_at: u64,
    /// Clients still to refund, in order.
    pub clients: Vec<OldParty>,
    /// Workers still to pay, in order.
    pub workers: Vec<OldParty>,
}

impl Books {
    /// Every old contract being closed, verified (sorted by address).
    pub fn old_contracts(&self) -> Result<Vec<OldContractRecord>, BooksError> {
        let vk = self.signing_key.verifying_key();
        let read = self.db.begin_read().map_err(storage)?;
        let table = read.open_table(OLD_CONTRACTS).map_err(storage)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let key = k.value().to_string();
            let (record, _) =
                decode::<OldContractRecord>(&vk, "old_contracts", key.as_bytes(), v.value())?;
            if record.proxy_sc != key {
                return Err(integrity("old_contracts", key, "address differs from key"));
            }
            if record.format > OLD_CONTRACT_FORMAT {
                return Err(integrity("old_contracts", key, "record of a newer format"));
            }
            out.push(record);
        }
        Ok(out)
    }

    /// Writes (or replaces) `record` durably, at once.
    pub fn put_old_contract(&mut self, record: &OldContractRecord) -> Result<(), BooksError> {
        let sealed = seal(
            &self.signing_key,
            "old_contracts",
            record.proxy_sc.as_bytes(),
            &json(record)?,
        );
        let txn = self.db.begin_write().map_err(storage)?;
        txn.open_table(OLD_CONTRACTS)
            .map_err(storage)?
            .insert(record.proxy_sc.as_str(), sealed.as_slice())
            .map_err(storage)?;
        txn.commit().map_err(storage)
    }

    /// Deletes the record of `proxy_sc` (its contract is closed).
    pub fn delete_old_contract(&mut self, proxy_sc: &str) -> Result<(), BooksError> {
        let txn = self.db.begin_write().map_err(storage)?;
        txn.open_table(OLD_CONTRACTS)
            .map_err(storage)?
            .remove(proxy_sc)
            .map_err(storage)?;
        txn.commit().map_err(storage)
    }

    /// Moves every client and worker row into `record` (its `clients` and `workers` are
    /// replaced by the rows: owner, contract, `tokens`) and empties the live rows, with a
    /// new commit, in one transaction. Refused while anything is staged (flush first).
    /// Returns the record as written and the new seqno.
    pub fn retire_to_old_contract(
        &mut self,
        mut record: OldContractRecord,
    ) -> Result<(OldContractRecord, u64), BooksError> {
        if !self.dirty_clients.is_empty() || !self.dirty_workers.is_empty() {
            return Err(BooksError::Storage(
                "flush the staged rows before retiring the contract".into(),
            ));
        }
        record.format = OLD_CONTRACT_FORMAT;
        record.clients = self
            .clients
            .values()
            .map(|c| OldParty {
                owner: c.owner.clone(),
                sc_address: c.sc_address.clone(),
                tokens: c.tokens_used,
            })
            .collect();
        record.workers = self
            .workers
            .values()
            .map(|w| OldParty {
                owner: w.owner.clone(),
                sc_address: w.sc_address.clone(),
                tokens: w.tokens,
            })
            .collect();
        let key = &self.signing_key;
        let next = self.seqno + 1;
        let mut tokens: Vec<(EntityKind, String, u64)> = Vec::new();
        tokens.extend(
            record
                .clients
                .iter()
                .map(|p| (EntityKind::Client, p.owner.clone(), p.tokens)),
        );
        tokens.extend(
            record
                .workers
                .iter()
                .map(|p| (EntityKind::Worker, p.owner.clone(), p.tokens)),
        );
        let commit = CommitRecord {
            seqno: next,
            prev_hash: self.head_hash,
            state_digest: state_digest(std::iter::empty()),
            tokens,
        };
        let sealed_commit = seal(key, "commits", &next.to_be_bytes(), &json(&commit)?);
        let head_hash = sha256(&sealed_commit);
        let head = Head {
            public_key: key.verifying_key().to_bytes(),
            seqno: next,
            head_hash,
        };
        let sealed_record = seal(
            key,
            "old_contracts",
            record.proxy_sc.as_bytes(),
            &json(&record)?,
        );
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut clients = txn.open_table(CLIENTS).map_err(storage)?;
            for owner in self.clients.keys() {
                clients.remove(owner.as_str()).map_err(storage)?;
            }
            let mut workers = txn.open_table(WORKERS).map_err(storage)?;
            for owner in self.workers.keys() {
                workers.remove(owner.as_str()).map_err(storage)?;
            }
            txn.open_table(OLD_CONTRACTS)
                .map_err(storage)?
                .insert(record.proxy_sc.as_str(), sealed_record.as_slice())
                .map_err(storage)?;
            let mut commits = txn.open_table(COMMITS).map_err(storage)?;
            commits
                .insert(next, sealed_commit.as_slice())
                .map_err(storage)?;
            if next > COMMITS_KEPT {
                commits.remove(next - COMMITS_KEPT).map_err(storage)?;
            }
            txn.open_table(META)
                .map_err(storage)?
                .insert(
                    HEAD_KEY,
                    seal(key, "meta", HEAD_KEY.as_bytes(), &json(&head)?).as_slice(),
                )
                .map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        self.seqno = next;
        self.head_hash = head_hash;
        self.clients.clear();
        self.workers.clear();
        Ok((record, next))
    }
}
