//! Opening (with full verification), staging and flushing of the [`Books`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use redb::{Database, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::seal::{seal, sha256, unseal};
use super::{
    storage, Books, BooksError, ClientRecord, CommitRecord, EntityKind, Head, OpenCheck,
    PendingChainCommit, WorkerRecord, CLIENTS, COMMITS, COMMITS_KEPT, HEAD_KEY, META, PENDING,
    WORKERS,
};

#[path = "old_contracts.rs"]
pub(super) mod old_contracts;

fn integrity(table: &'static str, key: impl Into<String>, reason: &'static str) -> BooksError {
    BooksError::Integrity {
        table,
        key: key.into(),
        reason,
    }
}

fn decode<T: DeserializeOwned>(
    verifying_key: &VerifyingKey,
    table: &'static str,
    key: &[u8],
    sealed: &[u8],
) -> Result<(T, Vec<u8>), BooksError> {
    let shown = || String::from_utf8_lossy(key).into_owned();
    let payload = unseal(verifying_key, table, key, sealed)
        .ok_or_else(|| integrity(table, shown(), "bad signature"))?;
    let value = serde_json::from_slice(payload)
        .map_err(|_| integrity(table, shown(), "undecodable payload"))?;
    Ok((value, payload.to_vec()))
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, BooksError> {
    serde_json::to_vec(value).map_err(storage)
}

/// Digest over every entity row: `(tag, key length, key, sha256(payload))` in key order.
fn state_digest<'a>(rows: impl Iterator<Item = (u8, &'a str, &'a [u8])>) -> [u8; 32] {
    let mut h = Sha256::new();
    for (tag, key, payload) in rows {
        h.update([tag]);
        h.update((key.len() as u64).to_be_bytes());
        h.update(key.as_bytes());
        h.update(sha256(payload));
    }
    h.finalize().into()
}

fn read_rows<T: DeserializeOwned>(
    db: &Database,
    table_def: TableDefinition<&str, &[u8]>,
    name: &'static str,
    vk: &VerifyingKey,
) -> Result<Vec<(String, T, Vec<u8>)>, BooksError> {
    let read = db.begin_read().map_err(storage)?;
    let table = read.open_table(table_def).map_err(storage)?;
    let mut out = Vec::new();
    for item in table.iter().map_err(storage)? {
        let (k, v) = item.map_err(storage)?;
        let key = k.value().to_string();
        let (value, payload) = decode::<T>(vk, name, key.as_bytes(), v.value())?;
        out.push((key, value, payload));
    }
    Ok(out)
}

impl Books {
    /// Opens (or creates) the books at `path`, bound to `signing_key`, verifying every
    /// signature, the commit hash chain, the state digest, and `check`.
    pub fn open(
        path: &Path,
        signing_key: SigningKey,
        check: OpenCheck,
    ) -> Result<Books, BooksError> {
        let db = Database::create(path).map_err(storage)?;
        let vk = signing_key.verifying_key();
        {
            let txn = db.begin_write().map_err(storage)?;
            // OLD_CONTRACTS is created empty in books written before it existed.
            for def in [META, CLIENTS, WORKERS, super::OLD_CONTRACTS] {
                txn.open_table(def).map_err(storage)?;
            }
            for def in [COMMITS, PENDING] {
                txn.open_table(def).map_err(storage)?;
            }
            txn.commit().map_err(storage)?;
        }
        let read = db.begin_read().map_err(storage)?;
        let head = match read
            .open_table(META)
            .map_err(storage)?
            .get(HEAD_KEY)
            .map_err(storage)?
        {
            Some(v) => Some(decode::<Head>(&vk, "meta", HEAD_KEY.as_bytes(), v.value())?.0),
            None => None,
        };
        if let Some(head) = &head {
            if head.public_key != vk.to_bytes() {
                return Err(integrity(
                    "meta",
                    HEAD_KEY,
                    "books belong to another proxy key",
                ));
            }
        }
        let (seqno, head_hash) = head
            .as_ref()
            .map_or((0, [0; 32]), |h| (h.seqno, h.head_hash));

        // Commit chain.
        let commits = read.open_table(COMMITS).map_err(storage)?;
        let mut last: Option<(u64, [u8; 32], CommitRecord)> = None;
        for item in commits.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let n = k.value();
            let (record, _) = decode::<CommitRecord>(&vk, "commits", &n.to_be_bytes(), v.value())?;
            if record.seqno != n {
                return Err(integrity(
                    "commits",
                    n.to_string(),
                    "seqno does not match its key",
                ));
            }
            if let Some((prev_n, prev_hash, _)) = &last {
                if n != prev_n + 1 || record.prev_hash != *prev_hash {
                    return Err(integrity("commits", n.to_string(), "commit chain broken"));
                }
            }
            last = Some((n, sha256(v.value()), record));
        }
        match &last {
            None if seqno != 0 => {
                return Err(integrity("commits", seqno.to_string(), "commits missing"))
            }
            Some((n, hash, _)) if (*n, *hash) != (seqno, head_hash) => {
                return Err(integrity(
                    "meta",
                    HEAD_KEY,
                    "head does not match the last commit",
                ))
            }
            _ => {}
        }
        if head.is_none() && last.is_some() {
            return Err(integrity("meta", HEAD_KEY, "head missing"));
        }
        drop(commits);
        drop(read);

        let clients = read_rows::<ClientRecord>(&db, CLIENTS, "clients", &vk)?;
        let workers = read_rows::<WorkerRecord>(&db, WORKERS, "workers", &vk)?;
        let digest = state_digest(
            clients
                .iter()
                .map(|(k, _, p)| (b'c', k.as_str(), p.as_slice()))
                .chain(
                    workers
                        .iter()
                        .map(|(k, _, p)| (b'w', k.as_str(), p.as_slice())),
                ),
        );
        match &last {
            Some((_, _, record)) if record.state_digest != digest => {
                return Err(integrity(
                    "commits",
                    seqno.to_string(),
                    "rows differ from the last commit",
                ))
            }
            None if !clients.is_empty() || !workers.is_empty() => {
                return Err(integrity("clients", "*", "rows without any commit"))
            }
            _ => {}
        }
        for (key, record, _) in &clients {
            if &record.owner != key {
                return Err(integrity("clients", key.clone(), "owner differs from key"));
            }
        }
        for (key, record, _) in &workers {
            if &record.owner != key {
                return Err(integrity("workers", key.clone(), "owner differs from key"));
            }
        }

        let mut pending = BTreeMap::new();
        {
            let read = db.begin_read().map_err(storage)?;
            let table = read.open_table(PENDING).map_err(storage)?;
            for item in table.iter().map_err(storage)? {
                let (k, v) = item.map_err(storage)?;
                let (p, _) = decode::<PendingChainCommit>(
                    &vk,
                    "pending_chain_commits",
                    &k.value().to_be_bytes(),
                    v.value(),
                )?;
                if p.seqno != k.value() {
                    return Err(integrity(
                        "pending_chain_commits",
                        p.seqno.to_string(),
                        "seqno does not match its key",
                    ));
                }
                pending.insert(p.seqno, p.session_hash);
            }
        }

        if let Some(known) = check.known_seqno {
            if seqno < known {
                return Err(BooksError::RolledBack { head: seqno, known });
            }
        }
        Ok(Books {
            db,
            signing_key,
            seqno,
            head_hash,
            clients: clients.into_iter().map(|(k, v, _)| (k, v)).collect(),
            workers: workers.into_iter().map(|(k, v, _)| (k, v)).collect(),
            pending,
            dirty_clients: BTreeSet::new(),
            dirty_workers: BTreeSet::new(),
            pending_changed: false,
        })
    }

    /// Seqno of the last flushed commit (0 when nothing was ever flushed).
    pub fn seqno(&self) -> u64 {
        self.seqno
    }
    /// A client record (staged value if staged).
    pub fn client(&self, owner: &str) -> Option<&ClientRecord> {
        self.clients.get(owner)
    }
    /// All client records.
    pub fn clients(&self) -> impl Iterator<Item = &ClientRecord> {
        self.clients.values()
    }
    /// A worker record (staged value if staged).
    pub fn worker(&self, owner: &str) -> Option<&WorkerRecord> {
        self.workers.get(owner)
    }
    /// All worker records.
    pub fn workers(&self) -> impl Iterator<Item = &WorkerRecord> {
        self.workers.values()
    }
    /// Pending on-chain commits, by seqno.
    pub fn pending_chain_commits(&self) -> impl Iterator<Item = PendingChainCommit> + '_ {
        self.pending
            .iter()
            .map(|(&seqno, &session_hash)| PendingChainCommit {
                seqno,
                session_hash,
            })
    }

    /// Stages a client record for the next flush; its `tokens_used` may not decrease.
    pub fn stage_client(&mut self, record: ClientRecord) -> Result<(), BooksError> {
        if let Some(old) = self.clients.get(&record.owner) {
            if record.tokens_used < old.tokens_used {
                return Err(BooksError::CounterDecrease {
                    owner: record.owner,
                    stored: old.tokens_used,
                    offered: record.tokens_used,
                });
            }
        }
        self.dirty_clients.insert(record.owner.clone());
        self.clients.insert(record.owner.clone(), record);
        Ok(())
    }

    /// Stages a worker record for the next flush; its `tokens` may not decrease.
    pub fn stage_worker(&mut self, record: WorkerRecord) -> Result<(), BooksError> {
        if let Some(old) = self.workers.get(&record.owner) {
            if record.tokens < old.tokens {
                return Err(BooksError::CounterDecrease {
                    owner: record.owner,
                    stored: old.tokens,
                    offered: record.tokens,
                });
            }
        }
        self.dirty_workers.insert(record.owner.clone());
        self.workers.insert(record.owner.clone(), record);
        Ok(())
    }

    /// Stages a `save_state(seqno, session_hash)` about to be sent on chain.
    pub fn add_pending_chain_commit(&mut self, commit: PendingChainCommit) {
        self.pending.insert(commit.seqno, commit.session_hash);
        self.pending_changed = true;
    }

    /// An on-chain `save_state` was observed: it must be a pending one with the same hash
    /// (otherwise the books or the chain view were rolled back); it and all older pending
    /// ones are dropped at the next flush.
    pub fn confirm_chain_commit(&mut self, seen: PendingChainCommit) -> Result<(), BooksError> {
        if self.pending.get(&seen.seqno) != Some(&seen.session_hash) {
            return Err(BooksError::UnknownChainCommit { seqno: seen.seqno });
        }
        self.pending = self.pending.split_off(&(seen.seqno + 1));
        self.pending_changed = true;
        Ok(())
    }

    /// Reads and verifies commit record `seqno` (None if pruned or not yet written).
    pub fn commit_record(&self, seqno: u64) -> Result<Option<CommitRecord>, BooksError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = read.open_table(COMMITS).map_err(storage)?;
        let Some(v) = table.get(seqno).map_err(storage)? else {
            return Ok(None);
        };
        let vk = self.signing_key.verifying_key();
        Ok(Some(
            decode::<CommitRecord>(&vk, "commits", &seqno.to_be_bytes(), v.value())?.0,
        ))
    }

    /// Writes everything staged plus commit `seqno + 1` in one durable transaction and
    /// returns the new seqno. On error nothing is written and the staged state is kept.
    pub fn flush(&mut self) -> Result<u64, BooksError> {
        let next = self.seqno + 1;
        let key = &self.signing_key;
        let client_payloads: BTreeMap<&str, Vec<u8>> = self
            .clients
            .iter()
            .map(|(k, v)| Ok((k.as_str(), json(v)?)))
            .collect::<Result<_, BooksError>>()?;
        let worker_payloads: BTreeMap<&str, Vec<u8>> = self
            .workers
            .iter()
            .map(|(k, v)| Ok((k.as_str(), json(v)?)))
            .collect::<Result<_, BooksError>>()?;
        let state_digest = state_digest(
            client_payloads
                .iter()
                .map(|(k, p)| (b'c', *k, p.as_slice()))
                .chain(
                    worker_payloads
                        .iter()
                        .map(|(k, p)| (b'w', *k, p.as_slice())),
                ),
        );
        let mut tokens = Vec::new();
        for owner in &self.dirty_clients {
            if let Some(c) = self.clients.get(owner) {
                tokens.push((EntityKind::Client, owner.clone(), c.tokens_used));
            }
        }
        for owner in &self.dirty_workers {
            if let Some(w) = self.workers.get(owner) {
                tokens.push((EntityKind::Worker, owner.clone(), w.tokens));
            }
        }
        let record = CommitRecord {
            seqno: next,
            prev_hash: self.head_hash,
            state_digest,
            tokens,
        };
        let sealed_commit = seal(key, "commits", &next.to_be_bytes(), &json(&record)?);
        let head_hash = sha256(&sealed_commit);
        let head = Head {
            public_key: key.verifying_key().to_bytes(),
            seqno: next,
            head_hash,
        };

        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut clients = txn.open_table(CLIENTS).map_err(storage)?;
            for owner in &self.dirty_clients {
                if let Some(p) = client_payloads.get(owner.as_str()) {
                    clients
                        .insert(
                            owner.as_str(),
                            seal(key, "clients", owner.as_bytes(), p).as_slice(),
                        )
                        .map_err(storage)?;
                }
            }
            let mut workers = txn.open_table(WORKERS).map_err(storage)?;
            for owner in &self.dirty_workers {
                if let Some(p) = worker_payloads.get(owner.as_str()) {
                    workers
                        .insert(
                            owner.as_str(),
                            seal(key, "workers", owner.as_bytes(), p).as_slice(),
                        )
                        .map_err(storage)?;
                }
            }
            let mut commits = txn.open_table(COMMITS).map_err(storage)?;
            commits
                .insert(next, sealed_commit.as_slice())
                .map_err(storage)?;
            if next > COMMITS_KEPT {
                commits.remove(next - COMMITS_KEPT).map_err(storage)?;
            }
            if self.pending_changed {
                let mut pending = txn.open_table(PENDING).map_err(storage)?;
                let old: Vec<u64> = pending
                    .iter()
                    .map_err(storage)?
                    .filter_map(|item| item.ok().map(|(k, _)| k.value()))
                    .collect();
                for seqno in old {
                    pending.remove(seqno).map_err(storage)?;
                }
                for (&seqno, &session_hash) in &self.pending {
                    let payload = json(&PendingChainCommit {
                        seqno,
                        session_hash,
                    })?;
                    let sealed = seal(key, "pending_chain_commits", &seqno.to_be_bytes(), &payload);
                    pending.insert(seqno, sealed.as_slice()).map_err(storage)?;
                }
            }
            let mut meta = txn.open_table(META).map_err(storage)?;
            meta.insert(
                HEAD_KEY,
                seal(key, "meta", HEAD_KEY.as_bytes(), &json(&head)?).as_slice(),
            )
            .map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        self.seqno = next;
        self.head_hash = head_hash;
        self.dirty_clients.clear();
        self.dirty_workers.clear();
        self.pending_changed = false;
        Ok(next)
    }
}
