use std::sync::atomic::{AtomicU32, Ordering};

use cocoon_ledger::ledger::DevnetLedger;
use cocoon_ledger::root_config::RootConfig;

use super::*;
use crate::keymanager::keys::{KEY_GENERATE_PERIOD, KEY_TTL};
use crate::keymanager::store::KeyStore;

const T0: u32 = 1_800_000_000;

fn machine() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn wallet() -> TonAddress {
    TonAddress::new(0, tonlib_core::TonHash::from([5u8; 32]))
}

struct Fixture {
    now: Arc<AtomicU32>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            now: Arc::new(AtomicU32::new(T0)),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn clock(&self) -> Clock {
        let now = self.now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    }

    fn ring(&self, ledger: Option<Arc<dyn Ledger>>, test_key: bool) -> KeyRing {
        let (store, stored) = KeyStore::open(self.dir.path(), machine()).unwrap();
        let registrar = ledger.map(|ledger| Registrar {
            ledger,
            wallet: wallet(),
            machine_key: machine(),
            retry: Duration::ZERO,
        });
        KeyRing::new(store, stored, registrar, self.clock(), test_key)
    }

    fn advance(&self, seconds: u32) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }
}

fn devnet(km_key: Option<[u8; 32]>) -> Arc<DevnetLedger> {
    let mut config = RootConfig::devnet_default();
    if let Some(k) = km_key {
        config.key_manager_public_key = k;
    }
    Arc::new(DevnetLedger::in_memory(config).unwrap())
}

#[test]
fn the_first_tick_generates_and_registers_a_key() {
    let f = Fixture::new();
    let ledger = devnet(Some(machine().verifying_key().to_bytes()));
    let ring = f.ring(Some(ledger.clone()), false);
    ring.tick().unwrap();
    let live = ring.live_keys();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].valid_until, T0 + KEY_TTL);
    let root = ledger.root_config().unwrap();
    assert_eq!(root.registered_public_keys.len(), 1);
    assert_eq!(
        root.registered_public_keys[0].public_key,
        live[0].public_key
    );
    assert_eq!(root.registered_public_keys[0].expire_at, T0 + KEY_TTL);
    assert_eq!(ring.held_keys()[0].registration, Registration::Registered);
    // Nothing more within the hour.
    f.advance(KEY_GENERATE_PERIOD);
    ring.tick().unwrap();
    assert_eq!(ring.live_keys().len(), 1);
    f.advance(1);
    ring.tick().unwrap();
    assert_eq!(ring.live_keys().len(), 2);
    assert_eq!(
        ledger.root_config().unwrap().registered_public_keys.len(),
        2
    );
}

#[test]
fn a_refused_registration_is_retried_and_the_key_still_served() {
    let f = Fixture::new();
    // The root expects another key manager key: every registration is refused.
    let wrong = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
    let ledger = devnet(Some(wrong));
    let ring = f.ring(Some(ledger.clone()), false);
    ring.tick().unwrap();
    assert_eq!(ring.live_keys().len(), 1);
    let held = &ring.held_keys()[0];
    assert_eq!(held.registration, Registration::Pending);
    assert!(held
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("signature"));
    assert!(ledger
        .root_config()
        .unwrap()
        .registered_public_keys
        .is_empty());
    // The root is fixed: the next tick registers it.
    let mut config = ledger.root_config().unwrap();
    config.key_manager_public_key = machine().verifying_key().to_bytes();
    ledger.devnet_set_config(config).unwrap();
    ring.tick().unwrap();
    assert_eq!(ring.held_keys()[0].registration, Registration::Registered);
    assert_eq!(
        ledger.root_config().unwrap().registered_public_keys.len(),
        1
    );
    assert_eq!(ring.counters().registrations_failed, 1);
}

#[test]
fn a_restart_keeps_keys_and_registers_only_what_was_pending() {
    let f = Fixture::new();
    let held = {
        let ring = f.ring(None, false);
        ring.tick().unwrap();
        ring.live_keys()
    };
    // Restarted with a ledger: the same key is served and registered now.
    let ledger = devnet(None);
    let ring = f.ring(Some(ledger.clone()), false);
    assert_eq!(ring.live_keys(), held);
    ring.tick().unwrap();
    assert_eq!(ring.live_keys(), held);
    let root = ledger.root_config().unwrap();
    assert_eq!(root.registered_public_keys.len(), 1);
    drop(ring);
    // Once more: already registered, nothing sent again.
    let ring = f.ring(Some(ledger.clone()), false);
    assert_eq!(ring.held_keys()[0].registration, Registration::Registered);
    ring.tick().unwrap();
    assert_eq!(ring.counters().registrations_sent, 0);
}

#[test]
fn expired_keys_leave_memory_and_store() {
    let f = Fixture::new();
    {
        let ring = f.ring(None, false);
        ring.tick().unwrap();
        let first = ring.live_keys()[0].clone();
        f.advance(KEY_TTL + 1);
        ring.tick().unwrap();
        let live = ring.live_keys();
        assert_eq!(live.len(), 1);
        assert_ne!(live[0], first);
        assert_eq!(ring.counters().expired, 1);
    }
    let ring = f.ring(None, false);
    assert_eq!(ring.held_keys().len(), 1);
}

#[test]
fn the_test_key_is_held_not_stored_and_delays_rotation() {
    let f = Fixture::new();
    {
        let ring = f.ring(None, true);
        ring.tick().unwrap();
        let held = ring.held_keys();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].registration, Registration::TestKey);
        f.advance(KEY_GENERATE_PERIOD + 1);
        ring.tick().unwrap();
        assert_eq!(ring.live_keys().len(), 2);
    }
    // Only the generated key is in the store.
    let ring = f.ring(None, false);
    assert_eq!(ring.held_keys().len(), 1);
}

#[test]
fn manual_keys_of_any_type_and_removal() {
    let f = Fixture::new();
    let ring = f.ring(None, false);
    let k = ring.generate(7).unwrap();
    assert_eq!(k.key_type, 7);
    // A type-7 key does not stop the type-1 rotation.
    ring.tick().unwrap();
    assert_eq!(ring.live_keys().len(), 2);
    ring.remove(&k.public_key).unwrap();
    assert!(matches!(
        ring.remove(&k.public_key),
        Err(RingError::NoSuchKey(_))
    ));
    drop(ring);
    let ring = f.ring(None, false);
    assert!(ring
        .live_keys()
        .iter()
        .all(|l| l.public_key != k.public_key));
}
