//! The key manager's durable store: `<db_path>/keymanager.redb`.
//!
//! **Engine: redb**, the one the proxy books already use (`cocoon_ledger::books`): pure
//! Rust, one file, ACID transactions whose commit is fsynced before it returns
//! (`Durability::Immediate`, redb's default), copy-on-write pages, so a `kill -9` at any
//! point leaves the last committed transaction whole. A key is committed before it is
//! served or registered, so nothing handed out is ever lost. redb also locks the file: a
//! second key manager on the same `db_path` is refused at open.
//!
//! **Rows**, as the reference's RocksDB rows (delta §3.5), in table `kv`:
//! `key_<64 hex public key>` → TL `keyManagerDb.key` ‖ Ed25519 signature of those bytes by
//! the `machine_specific_private_key`; `config` → TL `keyManagerDb.configV1` ‖ signature.
//! Ours in addition, table `registered`: `key_<hex>` → a sealed marker
//! ([`cocoon_ledger::books::seal`]) once the key's `root_add_public_key_signed` was accepted
//! by the ledger, so a key still unregistered after a crash is registered again.
//!
//! **Integrity on open**: every signature must verify with our machine key, every row must
//! decode, and a key row's seed must derive the public key in its name; otherwise the open
//! fails with [`StoreError::Integrity`] naming the row (a tampered file, or a store written
//! with another `machine_specific_private_key`). The reference aborts in the same cases.

use std::path::{Path, PathBuf};

use cocoon_ledger::books::{seal, unseal};
use cocoon_wire::schema::types::key_manager_db;
use cocoon_wire::tl::{from_bytes, to_bytes};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use redb::{Database, ReadableTable, TableDefinition};

use super::keys::KeyRecord;

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const REGISTERED: TableDefinition<&str, &[u8]> = TableDefinition::new("registered");
const CONFIG_ROW: &str = "config";
const KEY_PREFIX: &str = "key_";
/// Table name inside the seal of a `registered` marker.
const REGISTERED_SEAL: &str = "keymanager.registered";

/// The file inside `db_path`.
pub const STORE_FILE: &str = "keymanager.redb";

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key manager store {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("key manager store {path}: row {row} fails its integrity check ({reason}); the file was edited or written with another machine_specific_private_key")]
    Integrity {
        path: PathBuf,
        row: String,
        reason: String,
    },
}

/// A stored key and whether its registration was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub record: KeyRecord,
    pub registered: bool,
}

/// What the store held at open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    /// Every key row, expired ones included (the schedule deletes those).
    pub keys: Vec<StoredKey>,
    /// `keyManagerDb.configV1.root_contract_version`, if written.
    pub config_version: Option<i32>,
}

/// The open store (see the module doc).
pub struct KeyStore {
    db: Database,
    path: PathBuf,
    signer: SigningKey,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn key_row(public_key: &[u8; 32]) -> String {
    format!("{KEY_PREFIX}{}", hex::encode(public_key))
}

/// `bytes ‖ Ed25519(signer, bytes)`, the reference's signed value.
fn signed_value(signer: &SigningKey, bytes: Vec<u8>) -> Vec<u8> {
    let signature = signer.sign(&bytes).to_bytes();
    let mut out = bytes;
    out.extend_from_slice(&signature);
    out
}

fn verified_value<'a>(key: &VerifyingKey, value: &'a [u8]) -> Result<&'a [u8], String> {
    let split = value
        .len()
        .checked_sub(64)
        .ok_or_else(|| format!("{} bytes, shorter than a signature", value.len()))?;
    let (bytes, signature) = value.split_at(split);
    let signature = Signature::from_slice(signature).map_err(|e| e.to_string())?;
    key.verify(bytes, &signature)
        .map_err(|_| "signature does not verify".to_string())?;
    Ok(bytes)
}

/// Decodes the signature-checked bytes of key row `name` (`key_<hex>`): a TL
/// `keyManagerDb.key` whose seed derives the public key in the name.
fn parse_key_row(name: &str, bytes: &[u8]) -> Result<KeyRecord, String> {
    let k = from_bytes::<key_manager_db::Key>(bytes).map_err(|e| e.to_string())?;
    let key_type = u8::try_from(k.key_type).map_err(|_| "key_type above 255".to_string())?;
    let record = KeyRecord::from_seed(
        k.private_key,
        key_type,
        k.valid_since_config_version,
        k.valid_since_utime as u32,
        k.valid_until_utime as u32,
    );
    if name.strip_prefix(KEY_PREFIX) != Some(hex::encode(record.public_key).as_str()) {
        return Err("the seed does not derive the key in the row name".into());
    }
    Ok(record)
}

impl KeyStore {
    /// Opens (or creates) the store in directory `dir`, checks every row and returns what
    /// it holds.
    pub fn open(dir: &Path, signer: SigningKey) -> Result<(KeyStore, StoredState), StoreError> {
        let path = dir.join(STORE_FILE);
        let io = |e: &dyn std::fmt::Display| StoreError::Io {
            path: path.clone(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        let db = Database::create(&path).map_err(|e| io(&e))?;
        let store = KeyStore { db, path, signer };
        // Make both tables exist, so that reads of a new store find them.
        let tx = store.db.begin_write().map_err(|e| store.io(e))?;
        tx.open_table(KV).map_err(|e| store.io(e))?;
        tx.open_table(REGISTERED).map_err(|e| store.io(e))?;
        tx.commit().map_err(|e| store.io(e))?;
        let state = store.load()?;
        Ok((store, state))
    }

    fn io(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn integrity(&self, row: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Integrity {
            path: self.path.clone(),
            row: row.to_string(),
            reason: reason.into(),
        }
    }

    fn load(&self) -> Result<StoredState, StoreError> {
        let ours = self.signer.verifying_key();
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let kv = tx.open_table(KV).map_err(|e| self.io(e))?;
        let registered = tx.open_table(REGISTERED).map_err(|e| self.io(e))?;
        let mut state = StoredState::default();
        for row in kv.iter().map_err(|e| self.io(e))? {
            let (name, value) = row.map_err(|e| self.io(e))?;
            let name = name.value().to_string();
            let bytes =
                verified_value(&ours, value.value()).map_err(|r| self.integrity(&name, r))?;
            if name == CONFIG_ROW {
                let c = from_bytes::<key_manager_db::ConfigV1>(bytes)
                    .map_err(|e| self.integrity(&name, e.to_string()))?;
                state.config_version = Some(c.root_contract_version);
                continue;
            }
            if !name.starts_with(KEY_PREFIX) {
                return Err(self.integrity(&name, "unknown row"));
            }
            let record = parse_key_row(&name, bytes).map_err(|r| self.integrity(&name, r))?;
            let is_registered = match registered.get(name.as_str()).map_err(|e| self.io(e))? {
                None => false,
                Some(marker) => {
                    unseal(&ours, REGISTERED_SEAL, name.as_bytes(), marker.value())
                        .ok_or_else(|| self.integrity(&format!("registered/{name}"), "bad seal"))?;
                    true
                }
            };
            state.keys.push(StoredKey {
                record,
                registered: is_registered,
            });
        }
        Ok(state)
    }

    /// Stores `key` (durable when this returns).
    pub fn put_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let tl = key_manager_db::Key {
            private_key: key.seed,
            key_type: i32::from(key.key_type),
            valid_since_config_version: key.valid_since_config_version,
            valid_since_utime: key.valid_since as i32,
            valid_until_utime: key.valid_until as i32,
        };
        let value = signed_value(&self.signer, to_bytes(&tl));
        self.write(|kv, _| {
            kv.insert(key_row(&key.public_key).as_str(), value.as_slice())?;
            Ok(())
        })
    }

    /// Records that `public_key`'s registration was accepted.
    pub fn mark_registered(&self, public_key: &[u8; 32]) -> Result<(), StoreError> {
        let row = key_row(public_key);
        let marker = seal(&self.signer, REGISTERED_SEAL, row.as_bytes(), b"");
        self.write(|_, reg| {
            reg.insert(row.as_str(), marker.as_slice())?;
            Ok(())
        })
    }

    /// Deletes the keys `public_keys` (expired or removed by the operator).
    pub fn remove_keys(&self, public_keys: &[[u8; 32]]) -> Result<(), StoreError> {
        if public_keys.is_empty() {
            return Ok(());
        }
        self.write(|kv, reg| {
            for k in public_keys {
                let row = key_row(k);
                kv.remove(row.as_str())?;
                reg.remove(row.as_str())?;
            }
            Ok(())
        })
    }

    /// Records the root config version the keys are made under (`keyManagerDb.configV1`).
    pub fn set_config_version(&self, version: i32) -> Result<(), StoreError> {
        let tl = key_manager_db::ConfigV1 {
            root_contract_version: version,
        };
        let value = signed_value(&self.signer, to_bytes(&tl));
        self.write(|kv, _| {
            kv.insert(CONFIG_ROW, value.as_slice())?;
            Ok(())
        })
    }

    fn write(
        &self,
        f: impl FnOnce(
            &mut redb::Table<'_, &'static str, &'static [u8]>,
            &mut redb::Table<'_, &'static str, &'static [u8]>,
        ) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut kv = tx.open_table(KV).map_err(|e| self.io(e))?;
            let mut reg = tx.open_table(REGISTERED).map_err(|e| self.io(e))?;
            f(&mut kv, &mut reg).map_err(|e| self.io(e))?;
        }
        tx.commit().map_err(|e| self.io(e))
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
