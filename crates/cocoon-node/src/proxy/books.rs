//! The proxy's durable counters: a thin adapter from [`super::payments`] to
//! [`cocoon_ledger::books::Books`] (redb, every row sealed with the proxy key, hash-chained
//! commits). Opening verifies everything and refuses a tampered file with a clear error,
//! and — given the highest `save_state` seqno the ledger saw — a rolled-back one.
//!
//! Besides `tokens_max`, a client row keeps the last chain view of its contract (balance,
//! stake, tokens charged) and a worker row the tokens paid on chain; they come back as they
//! were stored (the reference reset a restored client's stake to 1 TON, §13.12).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cocoon_ledger::accounting::ClientChainView;
use cocoon_ledger::books::{Books, ClientRecord, OpenCheck, WorkerRecord};
use ed25519_dalek::SigningKey;

/// File name of the books inside the proxy's `db_path` directory.
pub const BOOKS_FILE: &str = "cocoon-books.redb";

/// The books of one proxy.
pub struct ProxyBooks {
    path: PathBuf,
    books: Books,
}

impl std::fmt::Debug for ProxyBooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyBooks")
            .field("path", &self.path)
            .field("seqno", &self.books.seqno())
            .finish_non_exhaustive()
    }
}

/// One party as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredParty {
    /// Owner address.
    pub owner: String,
    /// `tokens_max` at the last commit.
    pub tokens: u64,
    /// Clients: the last chain view of the contract.
    pub client_chain: Option<ClientChainView>,
    /// Workers: tokens paid on chain.
    pub worker_paid: Option<u64>,
}

/// One party's row to write: owner, contract address, `tokens_max`, and the chain view
/// (when known; otherwise the stored one is kept).
pub struct Row<'a> {
    pub owner: &'a str,
    pub sc_address: String,
    pub tokens: u64,
    pub client_chain: Option<ClientChainView>,
    pub worker_paid: Option<u64>,
}

impl ProxyBooks {
    /// Opens (or creates) `<db_dir>/cocoon-books.redb` bound to `key`.
    pub fn open(db_dir: &Path, key: SigningKey) -> Result<Self, String> {
        Self::open_checked(db_dir, key, None)
    }

    /// [`Self::open`], refusing books older than `known_seqno` (the highest `save_state`
    /// seqno seen on chain: the books must have reached it).
    pub fn open_checked(
        db_dir: &Path,
        key: SigningKey,
        known_seqno: Option<u64>,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(db_dir)
            .map_err(|e| format!("cannot create db_path {}: {e}", db_dir.display()))?;
        let path = db_dir.join(BOOKS_FILE);
        let books = Books::open(&path, key, OpenCheck { known_seqno }).map_err(|e| {
            format!(
                "refusing to start: the proxy books at {} failed verification ({e}); \
                 restore them from a backup or move the file away",
                path.display()
            )
        })?;
        Ok(ProxyBooks { path, books })
    }

    /// The books themselves (old-contract records, see [`cocoon_ledger::books::Books`]).
    pub fn books_mut(&mut self) -> &mut Books {
        &mut self.books
    }

    /// The books, read-only.
    pub fn books(&self) -> &Books {
        &self.books
    }

    /// Last committed seqno.
    pub fn seqno(&self) -> u64 {
        self.books.seqno()
    }

    /// Every stored client and worker.
    pub fn stored(&self) -> (Vec<StoredParty>, Vec<StoredParty>) {
        let clients = self
            .books
            .clients()
            .map(|c| StoredParty {
                owner: c.owner.clone(),
                tokens: c.tokens_used,
                client_chain: Some(ClientChainView {
                    balance: c.balance,
                    stake: c.stake,
                    sc_tokens_used: c.sc_tokens_used,
                }),
                worker_paid: None,
            })
            .collect();
        let workers = self
            .books
            .workers()
            .map(|w| StoredParty {
                owner: w.owner.clone(),
                tokens: w.tokens,
                client_chain: None,
                worker_paid: Some(w.sc_tokens),
            })
            .collect();
        (clients, workers)
    }

    /// Stages the changed rows and writes one commit; returns its seqno.
    pub fn write(&mut self, clients: &[Row<'_>], workers: &[Row<'_>]) -> Result<u64, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for row in clients {
            let mut record = self
                .books
                .client(row.owner)
                .cloned()
                .unwrap_or(ClientRecord {
                    owner: row.owner.to_owned(),
                    sc_address: String::new(),
                    tokens_used: 0,
                    balance: 0,
                    stake: 0,
                    sc_tokens_used: 0,
                    secret_hash: [0; 32],
                    last_request_at: 0,
                });
            record.sc_address.clone_from(&row.sc_address);
            record.tokens_used = row.tokens;
            if let Some(chain) = row.client_chain {
                record.balance = chain.balance;
                record.stake = chain.stake;
                record.sc_tokens_used = chain.sc_tokens_used;
            }
            record.last_request_at = now;
            self.books.stage_client(record).map_err(|e| e.to_string())?;
        }
        for row in workers {
            let mut record = self
                .books
                .worker(row.owner)
                .cloned()
                .unwrap_or(WorkerRecord {
                    owner: row.owner.to_owned(),
                    sc_address: String::new(),
                    sc_tokens: 0,
                    tokens: 0,
                    last_request_at: 0,
                });
            record.sc_address.clone_from(&row.sc_address);
            record.tokens = row.tokens;
            if let Some(paid) = row.worker_paid {
                record.sc_tokens = paid;
            }
            record.last_request_at = now;
            self.books.stage_worker(record).map_err(|e| e.to_string())?;
        }
        self.books.flush().map_err(|e| e.to_string())
    }
}
