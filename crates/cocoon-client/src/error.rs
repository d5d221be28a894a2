//! The library's errors: one enum, each variant saying which step failed and why.

use std::time::Duration;

/// Everything that can go wrong between building a client and the last answer chunk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The builder was given something unusable (a missing wallet, an unreadable file, an
    /// unknown policy name, a root config that registers no proxy).
    #[error("cocoon client configuration: {0}")]
    Config(String),
    /// No proxy link became ready within the connect timeout. `reasons` holds each proxy
    /// slot's last error: an attestation refusal shows here, before any prompt byte was sent.
    #[error("no proxy ready within {:.1} s: {}", waited.as_secs_f64(), reasons_text(reasons))]
    Connect {
        waited: Duration,
        reasons: Vec<String>,
    },
    /// Encryption is required ([`crate::Encryption::Required`]) but the root config lists
    /// no live type-1 key.
    #[error("encryption required, but the root config lists no live key manager key (type 1, not expired)")]
    NoEncryptionKey,
    /// The request was refused or failed on its way (by this client, the proxy or the
    /// worker): the HTTP-like status and OpenAI error code the client runner gives it.
    #[error("request failed ({status} {code}): {message}")]
    Request {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// The engine answered with a non-success HTTP status; `body` is its (decrypted) body.
    #[error("the engine answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// End-to-end encryption or decryption failed (a foreign or damaged answer line included).
    #[error("end-to-end encryption: {0}")]
    Encryption(#[from] cocoon_e2e::E2eError),
    /// The answer could not be read as OpenAI JSON (or exceeded the size bound).
    #[error("malformed answer: {0}")]
    Decode(String),
    /// Nothing arrived for the request within the answer silence limit.
    #[error("no answer for {:.1} s (answer silence limit); the request was cancelled", .0.as_secs_f64())]
    Silent(Duration),
}

fn reasons_text(reasons: &[String]) -> String {
    if reasons.is_empty() {
        "no connection attempt finished yet".into()
    } else {
        reasons.join("; ")
    }
}

impl From<cocoon_node::client::error::ApiError> for Error {
    fn from(e: cocoon_node::client::error::ApiError) -> Self {
        Error::Request {
            status: e.status.as_u16(),
            code: e.code,
            message: e.message,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
