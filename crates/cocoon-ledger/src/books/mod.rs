//! The proxy's durable books: per-client and per-worker records, the commit sequence
//! (`seqno → tokens` of the entities changed at that commit) and the pending on-chain
//! `save_state` commits (§8), with tamper and rollback detection.
//!
//! **Engine: redb.** Pure Rust (no C toolchain, quick to build), a single file, ACID write
//! transactions with copy-on-write pages and durable commits (fsync on commit), so a crash at
//! any point leaves the last committed transaction. SQLite would work equally well but adds
//! a bundled C build; RocksDB (the reference's engine) is heavier still.
//!
//! **Write model.** Updates are staged in memory ([`Books::stage_client`],
//! [`Books::stage_worker`], pending chain commits) and written by [`Books::flush`] in one
//! transaction that also appends commit `seqno + 1`. A crash loses only the staged window;
//! counters never decrease (staging a lower token count is refused), so nothing unserved is
//! ever credited.
//!
//! **Integrity.** Every stored value is sealed with the proxy key ([`seal`]): signature over
//! domain tag, table, key and payload. Each commit record carries the hash of the previous
//! commit record and a digest of all entity rows as of that commit; a signed head names the
//! last seqno and its hash. [`Books::open`] verifies all of it. Detected at open: any edited
//! byte, a row moved to another key, a row deleted or replaced by an older signed version,
//! missing or reordered commits, a database of another key. **Not detectable locally:** a
//! whole-file rollback to an older consistent copy; that needs an outside witness of a newer
//! seqno — the ledger's `save_state` seqnos or a worker's counters — passed as
//! [`OpenCheck::known_seqno`].
//!
//! **Old contracts.** When the proxy leaves its contract, its rows move into one sealed
//! [`OldContractRecord`] that the close machine works through (see `io/old_contracts`).

mod seal;

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use redb::{Database, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::accounting::NanoTon;

pub use seal::{seal, unseal, SEAL_DOMAIN};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");
const WORKERS: TableDefinition<&str, &[u8]> = TableDefinition::new("workers");
const COMMITS: TableDefinition<u64, &[u8]> = TableDefinition::new("commits");
const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending_chain_commits");
const OLD_CONTRACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("old_contracts");
const HEAD_KEY: &str = "head";

/// Commit records kept in the file (older ones are pruned; the chain is verified from the
/// oldest kept one).
pub const COMMITS_KEPT: u64 = 4096;

/// One client as the proxy persists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Client wallet (owner) address text.
    pub owner: String,
    /// Client contract address text.
    pub sc_address: String,
    /// `tokens_max` at this commit.
    pub tokens_used: u64,
    /// On-chain balance last seen.
    pub balance: NanoTon,
    /// On-chain stake last seen.
    pub stake: NanoTon,
    /// Tokens already charged on chain.
    pub sc_tokens_used: u64,
    /// Secret hash last seen.
    pub secret_hash: [u8; 32],
    /// Unix time of the last request.
    pub last_request_at: u64,
}

/// One worker as the proxy persists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Worker owner address text.
    pub owner: String,
    /// Worker contract address text.
    pub sc_address: String,
    /// Tokens already paid on chain.
    pub sc_tokens: u64,
    /// `tokens_max` at this commit.
    pub tokens: u64,
    /// Unix time of the last request.
    pub last_request_at: u64,
}

/// Which entity a commit entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityKind {
    /// A client.
    Client,
    /// A worker.
    Worker,
}

/// One commit of the sequence: the tokens of every entity written at this seqno.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// Commit number (1, 2, …).
    pub seqno: u64,
    /// Hash of the previous sealed commit record (zeros for the first).
    pub prev_hash: [u8; 32],
    /// Digest of all client and worker rows after this commit.
    pub state_digest: [u8; 32],
    /// `(kind, owner, tokens)` of the entities written at this commit.
    pub tokens: Vec<(EntityKind, String, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    public_key: [u8; 32],
    seqno: u64,
    head_hash: [u8; 32],
}

/// A `save_state(seqno, session_hash)` sent on chain but not yet seen there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChainCommit {
    /// Books seqno sent.
    pub seqno: u64,
    /// Session hash sent with it.
    pub session_hash: [u8; 32],
}

/// Extra checks at open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenCheck {
    /// A seqno known to have been committed (e.g. the highest `save_state` seen on chain);
    /// a database whose head is below it has been rolled back.
    pub known_seqno: Option<u64>,
}

/// Books error.
#[derive(Debug, thiserror::Error)]
pub enum BooksError {
    /// Storage engine failure.
    #[error("books storage: {0}")]
    Storage(String),
    /// A value failed its signature check or does not decode.
    #[error("books integrity violation in {table}/{key}: {reason}")]
    Integrity {
        /// Table.
        table: &'static str,
        /// Row key.
        key: String,
        /// What failed.
        reason: &'static str,
    },
    /// The database is older than a seqno known to have been committed.
    #[error("books rolled back: head seqno {head} is below known seqno {known}")]
    RolledBack {
        /// Seqno in the file.
        head: u64,
        /// Seqno known from outside.
        known: u64,
    },
    /// Staging would lower a monotone counter.
    #[error("counter of {owner} would decrease from {stored} to {offered}")]
    CounterDecrease {
        /// Entity.
        owner: String,
        /// Current tokens.
        stored: u64,
        /// Offered tokens.
        offered: u64,
    },
    /// An on-chain `save_state` that is not among the pending ones (or whose hash differs).
    #[error("unexpected on-chain save_state seqno {seqno}")]
    UnknownChainCommit {
        /// Seqno seen on chain.
        seqno: u64,
    },
}

fn storage(e: impl std::fmt::Display) -> BooksError {
    BooksError::Storage(e.to_string())
}

/// The proxy's books. See the module doc.
pub struct Books {
    db: Database,
    signing_key: SigningKey,
    seqno: u64,
    head_hash: [u8; 32],
    clients: BTreeMap<String, ClientRecord>,
    workers: BTreeMap<String, WorkerRecord>,
    pending: BTreeMap<u64, [u8; 32]>,
    dirty_clients: BTreeSet<String>,
    dirty_workers: BTreeSet<String>,
    pending_changed: bool,
}

mod io;

pub use io::old_contracts::{OldContractRecord, OldContractStep, OldParty, OLD_CONTRACT_FORMAT};

#[cfg(test)]
mod tests;
