use super::*;

fn machine() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn key(n: u8) -> KeyRecord {
    KeyRecord::from_seed([n; 32], 1, 3, 1_800_000_000 + u32::from(n), 1_800_086_400)
}

#[test]
fn keys_registration_and_config_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, state) = KeyStore::open(dir.path(), machine()).unwrap();
        assert_eq!(state, StoredState::default());
        store.put_key(&key(1)).unwrap();
        store.put_key(&key(2)).unwrap();
        store.mark_registered(&key(2).public_key).unwrap();
        store.set_config_version(7).unwrap();
    }
    let (_, state) = KeyStore::open(dir.path(), machine()).unwrap();
    assert_eq!(state.config_version, Some(7));
    let mut keys = state.keys;
    keys.sort_by_key(|k| k.record.valid_since);
    assert_eq!(
        keys,
        vec![
            StoredKey {
                record: key(1),
                registered: false
            },
            StoredKey {
                record: key(2),
                registered: true
            },
        ]
    );
}

#[test]
fn removed_keys_stay_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = KeyStore::open(dir.path(), machine()).unwrap();
        store.put_key(&key(1)).unwrap();
        store.put_key(&key(2)).unwrap();
        store.mark_registered(&key(1).public_key).unwrap();
        store.remove_keys(&[key(1).public_key]).unwrap();
    }
    let (_, state) = KeyStore::open(dir.path(), machine()).unwrap();
    let keys: Vec<_> = state.keys.into_iter().map(|k| k.record).collect();
    assert_eq!(keys, vec![key(2)]);
}

#[test]
fn rows_are_the_references_signed_tl() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = KeyStore::open(dir.path(), machine()).unwrap();
    store.put_key(&key(1)).unwrap();
    let tx = store.db.begin_read().unwrap();
    let kv = tx.open_table(KV).unwrap();
    let row = kv
        .get(key_row(&key(1).public_key).as_str())
        .unwrap()
        .unwrap();
    let value = row.value();
    let bytes = verified_value(&machine().verifying_key(), value).unwrap();
    // keyManagerDb.key id 0x35c91007, then seed, type, config version, since, until.
    assert_eq!(&bytes[..4], &0x35c9_1007u32.to_le_bytes());
    assert_eq!(&bytes[4..36], &[1u8; 32]);
    assert_eq!(bytes.len(), 4 + 32 + 16);
}

fn overwrite_row(dir: &std::path::Path, row: &str, value: &[u8]) {
    let db = Database::create(dir.join(STORE_FILE)).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(KV).unwrap().insert(row, value).unwrap();
    tx.commit().unwrap();
}

#[test]
fn a_tampered_row_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let row = key_row(&key(1).public_key);
    let mut value = {
        let (store, _) = KeyStore::open(dir.path(), machine()).unwrap();
        store.put_key(&key(1)).unwrap();
        let tx = store.db.begin_read().unwrap();
        let kv = tx.open_table(KV).unwrap();
        let v = kv.get(row.as_str()).unwrap().unwrap().value().to_vec();
        v
    };
    value[40] ^= 1; // the key type
    overwrite_row(dir.path(), &row, &value);
    let err = KeyStore::open(dir.path(), machine()).unwrap_err();
    match &err {
        StoreError::Integrity { row: r, .. } => assert_eq!(r, &row),
        other => panic!("expected an integrity error, got {other}"),
    }
    assert!(err.to_string().contains("integrity"), "{err}");
}

#[test]
fn a_store_of_another_machine_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = KeyStore::open(dir.path(), machine()).unwrap();
        store.put_key(&key(1)).unwrap();
    }
    let other = SigningKey::from_bytes(&[10; 32]);
    assert!(matches!(
        KeyStore::open(dir.path(), other),
        Err(StoreError::Integrity { .. })
    ));
}

#[test]
fn a_row_under_another_key_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let value = {
        let (store, _) = KeyStore::open(dir.path(), machine()).unwrap();
        store.put_key(&key(1)).unwrap();
        let tx = store.db.begin_read().unwrap();
        let kv = tx.open_table(KV).unwrap();
        let v = kv
            .get(key_row(&key(1).public_key).as_str())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        v
    };
    // A validly signed row copied under the name of another key.
    overwrite_row(dir.path(), &key_row(&key(2).public_key), &value);
    assert!(matches!(
        KeyStore::open(dir.path(), machine()),
        Err(StoreError::Integrity { .. })
    ));
}

#[test]
fn short_and_unknown_rows_are_refused() {
    for (row, value) in [
        (key_row(&key(1).public_key), vec![1u8, 2, 3]),
        ("junk".to_string(), signed_value(&machine(), vec![1, 2, 3])),
    ] {
        let dir = tempfile::tempdir().unwrap();
        drop(KeyStore::open(dir.path(), machine()).unwrap());
        overwrite_row(dir.path(), &row, &value);
        assert!(matches!(
            KeyStore::open(dir.path(), machine()),
            Err(StoreError::Integrity { .. })
        ));
    }
}

#[test]
fn a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_first, _) = KeyStore::open(dir.path(), machine()).unwrap();
    assert!(matches!(
        KeyStore::open(dir.path(), machine()),
        Err(StoreError::Io { .. })
    ));
}

proptest::proptest! {
    #[test]
    fn arbitrary_key_row_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
        let name = key_row(&key(1).public_key);
        if let Ok(record) = parse_key_row(&name, &bytes) {
            // Only a record whose seed derives the named key is accepted.
            proptest::prop_assert_eq!(record.public_key, key(1).public_key);
        }
    }
}
