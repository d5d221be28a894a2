//! The envelope rules shared by JSON bodies and multipart forms: the four envelope
//! fields, which other fields are encrypted, and the decrypt-side checks in the
//! reference's order (`delta-2026-04.md` §2.6).

use zeroize::Zeroizing;

use crate::error::E2eError;
use crate::keys::{message_secret, Direction, PublicKey, Seed, KEY_LEN};

/// Marks an encrypted body; the encryptor writes [`ENVELOPE_VERSION`], receivers only test presence.
pub const IS_ENCRYPTED: &str = "is_encrypted";
/// Hex public key of the encrypting side.
pub const SENDER_PUBLIC_KEY: &str = "sender_public_key";
/// Hex public key of the side that can decrypt.
pub const RECEIVER_PUBLIC_KEY: &str = "receiver_public_key";
/// Base64 of 32 random bytes; its text is mixed into the message secret.
pub const ENCRYPTION_NONCE: &str = "encryption_nonce";
/// The value written into `is_encrypted`.
pub const ENVELOPE_VERSION: &str = "v1";

/// The four envelope fields, in the order they are checked.
pub const ENVELOPE_FIELDS: [&str; 4] = [
    IS_ENCRYPTED,
    SENDER_PUBLIC_KEY,
    RECEIVER_PUBLIC_KEY,
    ENCRYPTION_NONCE,
];

/// Members never encrypted, at any nesting level: routing and accounting fields the
/// client runner and proxy must read.
pub const PLAIN_FIELDS: [&str; 8] = [
    "model",
    "max_completion_tokens",
    "max_tokens",
    "max_coefficient",
    "timeout",
    "debug",
    "enable_debug",
    "request_guid",
];

/// Whether a member (or form field) of this name is encrypted when it holds a string.
pub fn is_encrypted_field(name: &str) -> bool {
    !ENVELOPE_FIELDS.contains(&name) && !PLAIN_FIELDS.contains(&name)
}

/// Who decrypts, with which key, and what it checks.
#[derive(Debug, Clone, Copy)]
pub enum Receiver<'a> {
    /// The worker opening a request (direction `c`) with the seed the proxy sent
    /// (`None` when the proxy sent zero); learns the caller's key from the envelope.
    Worker {
        /// The key manager seed for this request.
        key: Option<&'a Seed>,
    },
    /// The HTTP caller opening an answer (direction `w`) that must come from `expected_sender`.
    Caller {
        /// The caller's own seed.
        seed: Option<&'a Seed>,
        /// The key manager public key the request was encrypted to.
        expected_sender: Option<PublicKey>,
    },
}

/// The envelope of one body as found: `None` fields are missing (or, in JSON, not strings).
pub(crate) struct FoundEnvelope<'b> {
    pub present: bool,
    pub sender: Option<&'b [u8]>,
    pub receiver: Option<&'b [u8]>,
    pub nonce: Option<&'b [u8]>,
    /// `is_encrypted` itself usable (a string in JSON).
    pub marker_ok: bool,
}

/// An opened envelope: who sent it and the secret for its fields.
pub(crate) struct Opened {
    pub sender: PublicKey,
    pub secret: Zeroizing<[u8; KEY_LEN]>,
}

/// Applies the reference's checks in order; `Ok(None)` = a clear body that is acceptable.
pub(crate) fn open(
    found: &FoundEnvelope<'_>,
    receiver: Receiver<'_>,
) -> Result<Option<Opened>, E2eError> {
    let (own, direction) = match receiver {
        Receiver::Worker { key } => (key, Direction::CallerToWorker),
        Receiver::Caller { seed, .. } => (seed, Direction::WorkerToCaller),
    };
    if !found.present {
        if own.is_some() {
            return Err(E2eError::KeyForUnencrypted);
        }
        if let Receiver::Caller {
            expected_sender: Some(_),
            ..
        } = receiver
        {
            return Err(E2eError::ExpectedKeyForUnencrypted);
        }
        return Ok(None);
    }
    let (Some(sender), Some(own_public), Some(nonce), true) =
        (found.sender, found.receiver, found.nonce, found.marker_ok)
    else {
        return Err(E2eError::EnvelopeIncomplete);
    };
    let sender = PublicKey::parse_field(sender)?;
    let own_public = PublicKey::parse_field(own_public)?;
    let own = own.ok_or(E2eError::NoPrivateKey)?;
    if let Receiver::Caller {
        expected_sender, ..
    } = receiver
    {
        let expected = expected_sender.unwrap_or(PublicKey([0; KEY_LEN]));
        if expected != sender {
            return Err(E2eError::SenderKeyMismatch);
        }
    }
    let secret = message_secret(own, &sender, &own_public, nonce, direction)?;
    Ok(Some(Opened { sender, secret }))
}
