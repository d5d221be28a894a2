//! The devnet root's part of the key manager protocol: `root_add_public_key_signed`
//! (delta §3.3), see [`DevnetLedger::devnet_root_add_public_key`].

use ed25519_dalek::VerifyingKey;
use tonlib_core::TonAddress;

use super::{key, DevnetLedger};
use crate::ledger::LedgerError;
use crate::root_keys::SignedKeyRegistration;

impl DevnetLedger {
    /// The devnet root: checks the signature against `key_manager_public_key` when the root
    /// config sets one (any signer otherwise), then keeps the key (replacing an entry for the
    /// same public key, dropping entries expired by the devnet clock) and bumps the config
    /// version. No fee moves (the devnet simulates no gas).
    pub(super) fn devnet_root_add_public_key(
        &self,
        sender: &TonAddress,
        signed: &SignedKeyRegistration,
    ) -> Result<(), LedgerError> {
        self.mutate(|s| {
            let km = s.config.key_manager_public_key;
            if km != [0; 32] {
                let km = VerifyingKey::from_bytes(&km).map_err(|e| {
                    LedgerError::Invalid(format!("root key_manager_public_key: {e}"))
                })?;
                signed
                    .verify(&km)
                    .map_err(|e| LedgerError::Invalid(e.to_string()))?;
            }
            let entry = signed.registration.registered();
            let now = s.clock;
            let keys = &mut s.config.registered_public_keys;
            keys.retain(|k| k.public_key != entry.public_key && u64::from(k.expire_at) > now);
            keys.push(entry.clone());
            keys.sort_by_key(|k| k.public_key);
            s.config.version = s.config.version.saturating_add(1);
            tracing::info!(sender = %key(sender), public_key = %hex::encode(entry.public_key),
                key_type = entry.key_type, expire_at = entry.expire_at,
                "devnet: root registered a key manager public key");
            Ok(())
        })
    }
}
