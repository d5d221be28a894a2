//! Books tests: reopen, tampering, row and file rollback, crash window, chain commits.

use std::path::Path;

use ed25519_dalek::SigningKey;
use redb::ReadableTable;

use super::*;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x33; 32])
}

fn client(owner: &str, tokens_used: u64) -> ClientRecord {
    ClientRecord {
        owner: owner.to_string(),
        sc_address: format!("sc-of-{owner}"),
        tokens_used,
        balance: 1_000_000_000,
        stake: 1_000_000_000,
        sc_tokens_used: 0,
        secret_hash: [0; 32],
        last_request_at: 1_767_225_600,
    }
}

fn worker(owner: &str, tokens: u64) -> WorkerRecord {
    WorkerRecord {
        owner: owner.to_string(),
        sc_address: format!("sc-of-{owner}"),
        sc_tokens: 0,
        tokens,
        last_request_at: 0,
    }
}

fn open(path: &Path) -> Result<Books, BooksError> {
    Books::open(path, key(), OpenCheck::default())
}

#[test]
fn reopen_restores_flushed_records_and_commit_sequence() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        assert_eq!(books.seqno(), 0);
        books.stage_client(client("alice", 10)).expect("stage");
        books.stage_worker(worker("w1", 10)).expect("stage");
        assert_eq!(books.flush().expect("flush"), 1);
        books.stage_client(client("alice", 25)).expect("stage");
        assert_eq!(books.flush().expect("flush"), 2);
    }
    let books = open(&path).expect("reopen");
    assert_eq!(books.seqno(), 2);
    assert_eq!(books.client("alice").map(|c| c.tokens_used), Some(25));
    assert_eq!(books.worker("w1").map(|w| w.tokens), Some(10));
    let first = books.commit_record(1).expect("read").expect("present");
    assert_eq!(
        first.tokens,
        vec![
            (EntityKind::Client, "alice".into(), 10),
            (EntityKind::Worker, "w1".into(), 10)
        ]
    );
    let second = books.commit_record(2).expect("read").expect("present");
    assert_eq!(
        second.tokens,
        vec![(EntityKind::Client, "alice".into(), 25)]
    );
    assert_eq!(books.clients().count(), 1);
}

#[test]
fn counters_never_decrease() {
    let dir = tempfile::tempdir().expect("dir");
    let mut books = open(&dir.path().join("b.redb")).expect("create");
    books.stage_client(client("alice", 10)).expect("stage");
    assert!(matches!(
        books.stage_client(client("alice", 9)),
        Err(BooksError::CounterDecrease { .. })
    ));
    books.stage_worker(worker("w", 5)).expect("stage");
    assert!(matches!(
        books.stage_worker(worker("w", 4)),
        Err(BooksError::CounterDecrease { .. })
    ));
}

#[test]
fn crash_without_flush_loses_only_the_window() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books.stage_client(client("alice", 10)).expect("stage");
        books.flush().expect("flush");
        books.stage_client(client("alice", 99)).expect("stage");
        books.stage_client(client("bob", 5)).expect("stage");
        // Simulated crash: dropped without flushing.
    }
    let books = open(&path).expect("reopen");
    assert_eq!(books.seqno(), 1);
    assert_eq!(books.client("alice").map(|c| c.tokens_used), Some(10));
    assert!(books.client("bob").is_none());
}

#[test]
fn tampered_byte_is_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books
            .stage_client(client("alice", 123_456_789))
            .expect("stage");
        books.flush().expect("flush");
    }
    let mut bytes = std::fs::read(&path).expect("read");
    let needle = b"123456789";
    let positions: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert!(!positions.is_empty(), "record payload must be in the file");
    for at in positions {
        bytes[at] = b'9';
    }
    std::fs::write(&path, &bytes).expect("write");
    assert!(open(&path).is_err(), "an edited value must not open");
}

#[test]
fn row_replaced_by_an_older_signed_version_is_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books.stage_client(client("alice", 10)).expect("stage");
        books.flush().expect("flush");
    }
    let old_row = {
        let db = Database::create(&path).expect("raw open");
        let read = db.begin_read().expect("read");
        let table = read.open_table(CLIENTS).expect("table");
        let row = table
            .get("alice")
            .expect("get")
            .expect("row")
            .value()
            .to_vec();
        row
    };
    {
        let mut books = open(&path).expect("reopen");
        books.stage_client(client("alice", 50)).expect("stage");
        books.flush().expect("flush");
    }
    {
        let db = Database::create(&path).expect("raw open");
        let txn = db.begin_write().expect("write");
        txn.open_table(CLIENTS)
            .expect("table")
            .insert("alice", old_row.as_slice())
            .expect("insert");
        txn.commit().expect("commit");
    }
    match open(&path) {
        Err(BooksError::Integrity { reason, .. }) => {
            assert_eq!(reason, "rows differ from the last commit")
        }
        other => panic!(
            "expected an integrity error, got {:?}",
            other.map(|b| b.seqno())
        ),
    }
}

#[test]
fn row_moved_to_another_key_is_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books.stage_client(client("alice", 10)).expect("stage");
        books.flush().expect("flush");
    }
    {
        let db = Database::create(&path).expect("raw open");
        let txn = db.begin_write().expect("write");
        {
            let mut table = txn.open_table(CLIENTS).expect("table");
            let row = table
                .get("alice")
                .expect("get")
                .expect("row")
                .value()
                .to_vec();
            table.insert("mallory", row.as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
    }
    assert!(matches!(
        open(&path),
        Err(BooksError::Integrity {
            reason: "bad signature",
            ..
        })
    ));
}

#[test]
fn whole_file_rollback_is_detected_given_a_known_seqno() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    let backup = dir.path().join("old.redb");
    {
        let mut books = open(&path).expect("create");
        books.stage_client(client("alice", 10)).expect("stage");
        books.flush().expect("flush");
    }
    std::fs::copy(&path, &backup).expect("copy");
    {
        let mut books = open(&path).expect("reopen");
        books.stage_client(client("alice", 20)).expect("stage");
        books.flush().expect("flush");
    }
    std::fs::copy(&backup, &path).expect("roll back");
    // Locally consistent: opens without an outside witness.
    assert_eq!(open(&path).expect("consistent copy").seqno(), 1);
    // With the seqno known from the ledger, the rollback is caught.
    let checked = Books::open(
        &path,
        key(),
        OpenCheck {
            known_seqno: Some(2),
        },
    );
    assert!(matches!(
        checked,
        Err(BooksError::RolledBack { head: 1, known: 2 })
    ));
}

#[test]
fn books_are_bound_to_the_proxy_key() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books.flush().expect("flush");
    }
    let other = SigningKey::from_bytes(&[0x44; 32]);
    assert!(Books::open(&path, other, OpenCheck::default()).is_err());
}

#[test]
fn pending_chain_commits_are_confirmed_in_order() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books.add_pending_chain_commit(PendingChainCommit {
            seqno: 1,
            session_hash: [1; 32],
        });
        books.add_pending_chain_commit(PendingChainCommit {
            seqno: 2,
            session_hash: [2; 32],
        });
        books.flush().expect("flush");
    }
    let mut books = open(&path).expect("reopen");
    assert_eq!(books.pending_chain_commits().count(), 2);
    let forged = PendingChainCommit {
        seqno: 2,
        session_hash: [9; 32],
    };
    assert!(matches!(
        books.confirm_chain_commit(forged),
        Err(BooksError::UnknownChainCommit { seqno: 2 })
    ));
    books
        .confirm_chain_commit(PendingChainCommit {
            seqno: 1,
            session_hash: [1; 32],
        })
        .expect("confirm");
    books.flush().expect("flush");
    drop(books);
    let books = open(&path).expect("reopen");
    let left: Vec<u64> = books.pending_chain_commits().map(|p| p.seqno).collect();
    assert_eq!(left, vec![2]);
}

fn old_record(proxy_sc: &str) -> OldContractRecord {
    OldContractRecord {
        format: 0,
        proxy_sc: proxy_sc.to_string(),
        params: Some(crate::root_config::RootConfig::devnet_default().params),
        step: OldContractStep::NotStarted,
        close_at: 0,
        clients: Vec::new(),
        workers: Vec::new(),
    }
}

#[test]
fn retiring_moves_every_row_into_the_old_contract_record_in_one_commit() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books.stage_client(client("alice", 10)).expect("stage");
        books.stage_client(client("bob", 7)).expect("stage");
        books.stage_worker(worker("w1", 17)).expect("stage");
        assert_eq!(books.flush().expect("flush"), 1);
        books.stage_client(client("alice", 12)).expect("stage");
        assert!(
            books.retire_to_old_contract(old_record("old-sc")).is_err(),
            "staged rows must be flushed first"
        );
        assert_eq!(books.flush().expect("flush"), 2);
        let (record, seqno) = books
            .retire_to_old_contract(old_record("old-sc"))
            .expect("retire");
        assert_eq!(seqno, 3);
        assert_eq!(record.format, OLD_CONTRACT_FORMAT);
        assert_eq!(
            record
                .clients
                .iter()
                .map(|p| (p.owner.as_str(), p.sc_address.as_str(), p.tokens))
                .collect::<Vec<_>>(),
            vec![("alice", "sc-of-alice", 12), ("bob", "sc-of-bob", 7)]
        );
        assert_eq!(record.workers.len(), 1);
        assert_eq!(books.clients().count() + books.workers().count(), 0);
        // New rows after the retirement start from zero.
        books.stage_client(client("alice", 1)).expect("stage");
        assert_eq!(books.flush().expect("flush"), 4);
    }
    let mut books = open(&path).expect("reopen verifies the chain and digest");
    assert_eq!(books.seqno(), 4);
    assert_eq!(books.client("alice").map(|c| c.tokens_used), Some(1));
    assert!(books.client("bob").is_none());
    let mut old = books.old_contracts().expect("old");
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].workers[0].tokens, 17);
    // Progress is written at once and survives a reopen; a closed contract is deleted.
    old[0].step = OldContractStep::StartedClients;
    old[0].close_at = 99;
    old[0].clients.remove(0);
    books.put_old_contract(&old[0]).expect("put");
    drop(books);
    let mut books = open(&path).expect("reopen");
    let old = books.old_contracts().expect("old");
    assert_eq!(
        (old[0].step, old[0].close_at, old[0].clients.len()),
        (OldContractStep::StartedClients, 99, 1)
    );
    books.delete_old_contract("old-sc").expect("delete");
    assert!(books.old_contracts().expect("old").is_empty());
}

#[test]
fn books_without_the_old_contracts_table_still_open() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    {
        let mut books = open(&path).expect("create");
        books.stage_client(client("alice", 3)).expect("stage");
        books.flush().expect("flush");
    }
    {
        // What a file written before the table existed looks like.
        let db = redb::Database::create(&path).expect("db");
        let txn = db.begin_write().expect("txn");
        assert!(txn.delete_table(OLD_CONTRACTS).expect("delete"));
        txn.commit().expect("commit");
    }
    let books = open(&path).expect("older books open");
    assert_eq!(books.client("alice").map(|c| c.tokens_used), Some(3));
    assert!(books.old_contracts().expect("old").is_empty());
}

#[test]
fn a_tampered_old_contract_record_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.redb");
    let mut books = open(&path).expect("create");
    books.put_old_contract(&old_record("sc-a")).expect("put");
    drop(books);
    {
        let db = redb::Database::create(&path).expect("db");
        let txn = db.begin_write().expect("txn");
        {
            // The sealed record moved to another key.
            let mut t = txn.open_table(OLD_CONTRACTS).expect("table");
            let sealed = t.get("sc-a").expect("get").expect("row").value().to_vec();
            t.insert("sc-b", sealed.as_slice()).expect("move");
        }
        txn.commit().expect("commit");
    }
    let books = open(&path).expect("reopen");
    assert!(matches!(
        books.old_contracts(),
        Err(BooksError::Integrity { .. })
    ));
}
