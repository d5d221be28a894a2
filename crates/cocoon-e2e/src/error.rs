//! Errors of the request-encryption layer, with the April-2026 reference's texts and
//! TON error codes (602 = `error`, 621 = `protoviolation`, 0 = a bare td status).

/// TON `ErrorCode::error`.
pub const CODE_ERROR: i32 = 602;
/// TON `ErrorCode::protoviolation`.
pub const CODE_PROTOVIOLATION: i32 = 621;
/// A td status without a code (the reference's cipher and hex/base64 decoders).
pub const CODE_NONE: i32 = 0;

/// Every way encrypting or decrypting a request or answer can fail. `Display` gives the
/// reference's message text; [`E2eError::code`] its numeric code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E2eError {
    /// The worker holds a key for this request but the body has no `is_encrypted`.
    #[error("encryption key is provided, but request is unencrypted")]
    KeyForUnencrypted,
    /// The caller expects an encrypted answer from a known key but the value is clear.
    #[error("public key is provided, but request is unencrypted")]
    ExpectedKeyForUnencrypted,
    /// `is_encrypted` is there but one of the four envelope fields is missing or not a string.
    #[error("not all encryption-related fields are present")]
    EnvelopeIncomplete,
    /// A key field is neither 32 raw, 64 hex nor 44 base64 characters (or decodes to
    /// something other than 32 bytes).
    #[error("public_key bad length")]
    KeyBadLength,
    /// Odd number of hex digits (td `hex_decode`).
    #[error("Wrong hex string length")]
    HexLength,
    /// A non-hex character (td `hex_decode`).
    #[error("Wrong hex string")]
    HexCharacter,
    /// A character outside the standard base64 alphabet (td `base64_decode`).
    #[error("Wrong character in the string")]
    Base64Character,
    /// Non-zero bits after the last full byte, or misplaced `=` (td `base64_decode`).
    #[error("Wrong padding in the string")]
    Base64Padding,
    /// An encrypted body arrived but this side holds no private key for it.
    #[error("cannot find private key for an encrypted request")]
    NoPrivateKey,
    /// The answer's `sender_public_key` is not the key the caller encrypted to.
    #[error("sender public key mismatch")]
    SenderKeyMismatch,
    /// The envelope names a local public key that is not the one of our seed.
    #[error("public key mismatch")]
    PublicKeyMismatch,
    /// The peer's public key is not a point of the curve, or the agreement gave the
    /// all-zero value (small-order point); OpenSSL refuses both in the reference.
    #[error("Failed to compute shared secret")]
    SharedSecret,
    /// An encrypted field's value is neither `ENC_…` nor `DEC_…`; carries the value
    /// after its first four characters, as the reference prints it.
    #[error("bad encryption method: {0}")]
    BadMethod(String),
    /// Ciphertext shorter than one block.
    #[error("Failed to decrypt: encrypted_data is less than 16 bytes")]
    CipherTooShort,
    /// Ciphertext not a whole number of blocks.
    #[error("Failed to decrypt: data size is not divisible by 16")]
    CipherNotBlocks,
    /// The message key does not authenticate the plaintext (wrong key or tampering).
    #[error("Failed to decrypt: msg_id mismatch")]
    MsgIdMismatch,
    /// The authenticated padding length is outside 16..=len.
    #[error("Failed to decrypt: invalid prefix size")]
    InvalidPrefix,
    /// A decrypted JSON string is not UTF-8 (the reference would fail later, when dumping).
    #[error("decrypted value is not valid UTF-8")]
    NotUtf8,
    /// The body is not a JSON object.
    #[error("expected json object")]
    NotJsonObject,
    /// The content type is not `multipart/form-data`.
    #[error("expected multipart/form-data content type, found {0}")]
    NotMultipart(String),
    /// `multipart/form-data` without a `boundary=` parameter.
    #[error("cannot find boundary in content type")]
    NoBoundary,
    /// The multipart body does not follow its boundary structure.
    #[error("cannot parse form multipart data")]
    BadMultipart,
    /// A streamed answer holds bytes that are not JSON.
    #[error("answer stream is not a sequence of JSON values")]
    BadAnswerStream,
}

impl E2eError {
    /// The TON error code the reference attaches to this error.
    pub fn code(&self) -> i32 {
        use E2eError::*;
        match self {
            KeyForUnencrypted
            | ExpectedKeyForUnencrypted
            | EnvelopeIncomplete
            | NoPrivateKey
            | SenderKeyMismatch
            | PublicKeyMismatch => CODE_ERROR,
            KeyBadLength | BadMethod(_) | NotJsonObject | NotMultipart(_) | NoBoundary
            | BadMultipart | BadAnswerStream => CODE_PROTOVIOLATION,
            HexLength | HexCharacter | Base64Character | Base64Padding | SharedSecret
            | CipherTooShort | CipherNotBlocks | MsgIdMismatch | InvalidPrefix | NotUtf8 => {
                CODE_NONE
            }
        }
    }
}
