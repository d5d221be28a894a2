use super::*;
use crate::keymanager::{KeyManagerSettings, RootHashes};
use cocoon_wire::schema::enums;
use cocoon_wire::tl::from_bytes;
use ed25519_dalek::SigningKey;

const PROXY_HASH: [u8; 32] = [1; 32];
const WORKER_HASH: [u8; 32] = [2; 32];

fn shared(check_hashes: bool) -> (tempfile::TempDir, Arc<KeyManagerShared>) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = KeyManagerSettings::new(SigningKey::from_bytes(&[9; 32]), dir.path().into());
    settings.check_hashes = check_hashes;
    settings.local_root = RootHashes {
        proxy_hashes: vec![PROXY_HASH],
        worker_hashes: vec![WORKER_HASH],
    };
    let shared = KeyManagerShared::open(settings).unwrap();
    shared.ring.tick().unwrap();
    (dir, shared)
}

fn proxy_query() -> Vec<u8> {
    to_bytes(&functions::key_manager::GetProxyPrivateKeys { proto_version: 0 })
}

fn worker_query() -> Vec<u8> {
    to_bytes(&functions::key_manager::GetWorkerPrivateKeys { proto_version: 7 })
}

#[test]
fn listed_callers_get_every_live_key() {
    let (_dir, shared) = shared(true);
    for (hash, query) in [(PROXY_HASH, proxy_query()), (WORKER_HASH, worker_query())] {
        let bytes = answer(&shared, &hash, &query).unwrap();
        let enums::key_manager::PrivateKeys::PrivateKeys(keys) = from_bytes(&bytes).unwrap();
        let live = shared.ring.live_keys();
        assert_eq!(keys.keys.len(), live.len());
        assert_eq!(keys.keys[0].private_key, live[0].seed);
        assert_eq!(keys.keys[0].valid_until_utime as u32, live[0].valid_until);
    }
}

#[test]
fn unlisted_callers_get_602_naming_the_list() {
    let (_dir, shared) = shared(true);
    assert_eq!(
        answer(&shared, &WORKER_HASH, &proxy_query()),
        Err((602, "unknown proxy hash".into()))
    );
    assert_eq!(
        answer(&shared, &PROXY_HASH, &worker_query()),
        Err((602, "unknown worker hash".into()))
    );
}

#[test]
fn without_hash_checks_any_caller_is_served() {
    let (_dir, shared) = shared(false);
    assert!(answer(&shared, &[7; 32], &proxy_query()).is_ok());
}

#[test]
fn unknown_or_short_queries_get_601() {
    let (_dir, shared) = shared(true);
    for query in [vec![], vec![0x41], vec![1, 2, 3, 4, 5, 6, 7, 8]] {
        assert_eq!(
            answer(&shared, &PROXY_HASH, &query),
            Err((601, "unknown query magic".into()))
        );
    }
}
