//! The proof-of-work gate in front of every RA-TLS listener (tee.md §8).
//!
//! Before TLS, the listening side sends a 24-byte challenge
//! `u32 0x418e1291 ‖ i32 difficulty ‖ 16-byte salt` (little-endian) and reads
//! a 12-byte answer `u32 0x01827319 ‖ i64 nonce`. The answer is valid iff
//! `h = SHA-256(salt ‖ nonce as 8 LE bytes)` has at least `difficulty` leading
//! zero bits, where — as in the reference — the leading zeros are counted on
//! the first 8 hash bytes read as a **little-endian** u64 (so the high bits of
//! `h[7]` come first). The client tries nonces 0, 1, 2, … and refuses
//! challenges harder than its maximum.
//!
//! Unlike the reference, both sides here run under a timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// First 4 bytes of a challenge (`cocoon.powSimple`).
pub const CHALLENGE_MAGIC: u32 = 0x418e_1291;
/// First 4 bytes of an answer (`cocoon.powSimpleResponse`).
pub const ANSWER_MAGIC: u32 = 0x0182_7319;
pub const CHALLENGE_LEN: usize = 24;
pub const ANSWER_LEN: usize = 12;
/// Difficulty a server asks by default (reference router `-d`).
pub const DEFAULT_DIFFICULTY: u32 = 20;
/// Hardest challenge a client accepts by default (reference router `-m`, runners).
pub const DEFAULT_MAX_DIFFICULTY: u32 = 28;
/// Only 64 bits are counted; a higher difficulty can never be met.
pub const MAX_DIFFICULTY: u32 = 64;

/// Why the proof-of-work exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PowError {
    #[error("proof-of-work I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("proof-of-work phase timed out after {0:?}")]
    Timeout(Duration),
    #[error("the server sent no proof-of-work challenge within {0:?}")]
    NoChallenge(Duration),
    #[error("peer sent a challenge with magic {got:#010x}, expected {CHALLENGE_MAGIC:#010x}")]
    BadChallengeMagic { got: u32 },
    #[error("peer sent an answer with magic {got:#010x}, expected {ANSWER_MAGIC:#010x}")]
    BadAnswerMagic { got: u32 },
    #[error("proof of work too weak: {got} leading zero bits, {needed} required")]
    InsufficientWork { needed: i32, got: u32 },
    #[error("server asks proof-of-work difficulty {asked}, more than our maximum {max}")]
    TooHard { asked: i32, max: u32 },
    #[error("server difficulty {0} cannot be configured (0..=64)")]
    BadDifficulty(u32),
    #[error("proof-of-work solver stopped before finding a nonce")]
    SolverStopped,
}

/// The server's challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowChallenge {
    /// Leading zero bits required. Signed as on the wire; ≤ 0 is met by any nonce.
    pub difficulty: i32,
    pub salt: [u8; 16],
}

impl PowChallenge {
    /// A challenge with a fresh CSPRNG salt.
    pub fn random(difficulty: u32) -> Result<Self, PowError> {
        if difficulty > MAX_DIFFICULTY {
            return Err(PowError::BadDifficulty(difficulty));
        }
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        // difficulty ≤ 64, so the cast is lossless.
        Ok(Self {
            difficulty: difficulty as i32,
            salt,
        })
    }

    pub fn encode(&self) -> [u8; CHALLENGE_LEN] {
        let mut out = [0u8; CHALLENGE_LEN];
        out[..4].copy_from_slice(&CHALLENGE_MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&self.difficulty.to_le_bytes());
        out[8..].copy_from_slice(&self.salt);
        out
    }

    pub fn decode(bytes: &[u8; CHALLENGE_LEN]) -> Result<Self, PowError> {
        let (magic, rest) = bytes.split_at(4);
        let (difficulty, salt) = rest.split_at(4);
        let magic = u32::from_le_bytes(magic.try_into().unwrap_or_default());
        if magic != CHALLENGE_MAGIC {
            return Err(PowError::BadChallengeMagic { got: magic });
        }
        Ok(Self {
            difficulty: i32::from_le_bytes(difficulty.try_into().unwrap_or_default()),
            salt: salt.try_into().unwrap_or_default(),
        })
    }

    /// Whether `nonce` meets this challenge.
    pub fn is_solved_by(&self, nonce: i64) -> bool {
        i64::from(leading_zero_bits(&self.salt, nonce)) >= i64::from(self.difficulty)
    }

    /// Search nonces 0, 1, 2, … for the first that meets the challenge.
    /// Returns `None` if `stop` is raised first (checked every 4096 tries).
    pub fn solve(&self, stop: &AtomicBool) -> Option<i64> {
        let salted = Sha256::new_with_prefix(self.salt);
        let mut nonce: i64 = 0;
        loop {
            if nonce & 0xfff == 0 && stop.load(Ordering::Relaxed) {
                return None;
            }
            let hash = salted.clone().chain_update(nonce.to_le_bytes()).finalize();
            if i64::from(count_leading_zero_bits(&hash)) >= i64::from(self.difficulty) {
                return Some(nonce);
            }
            nonce = nonce.checked_add(1)?;
        }
    }
}

/// The client's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowAnswer {
    pub nonce: i64,
}

impl PowAnswer {
    pub fn encode(&self) -> [u8; ANSWER_LEN] {
        let mut out = [0u8; ANSWER_LEN];
        out[..4].copy_from_slice(&ANSWER_MAGIC.to_le_bytes());
        out[4..].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8; ANSWER_LEN]) -> Result<Self, PowError> {
        let (magic, nonce) = bytes.split_at(4);
        let magic = u32::from_le_bytes(magic.try_into().unwrap_or_default());
        if magic != ANSWER_MAGIC {
            return Err(PowError::BadAnswerMagic { got: magic });
        }
        Ok(Self {
            nonce: i64::from_le_bytes(nonce.try_into().unwrap_or_default()),
        })
    }
}

/// Leading zero bits of SHA-256(salt ‖ nonce LE), counted the reference's way.
pub fn leading_zero_bits(salt: &[u8; 16], nonce: i64) -> u32 {
    let hash = Sha256::new_with_prefix(salt)
        .chain_update(nonce.to_le_bytes())
        .finalize();
    count_leading_zero_bits(&hash)
}

/// `clz64` of the first 8 hash bytes read as a little-endian u64 (64 if all zero).
fn count_leading_zero_bits(hash: &[u8]) -> u32 {
    let mut first = [0u8; 8];
    first.copy_from_slice(hash.get(..8).unwrap_or(&[0xff; 8]));
    u64::from_le_bytes(first).leading_zeros()
}

/// Server side: send a fresh challenge of `difficulty`, read the answer and
/// check it, all within `timeout`.
pub async fn server_gate<S>(
    stream: &mut S,
    difficulty: u32,
    timeout: Duration,
) -> Result<(), PowError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let challenge = PowChallenge::random(difficulty)?;
    let exchange = async {
        stream.write_all(&challenge.encode()).await?;
        stream.flush().await?;
        let mut answer = [0u8; ANSWER_LEN];
        stream.read_exact(&mut answer).await?;
        PowAnswer::decode(&answer)
    };
    let answer = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| PowError::Timeout(timeout))??;
    if challenge.is_solved_by(answer.nonce) {
        Ok(())
    } else {
        Err(PowError::InsufficientWork {
            needed: challenge.difficulty,
            got: leading_zero_bits(&challenge.salt, answer.nonce),
        })
    }
}

/// Client side: read the challenge (within `challenge_timeout`: a server sends it as
/// soon as it accepts, so one that does not is hung), refuse it if harder than
/// `max_difficulty`, solve it on a blocking thread and send the answer, all
/// within `timeout` (the solver is stopped when the timeout fires).
/// Returns the challenge and the nonce sent.
pub async fn client_solve<S>(
    stream: &mut S,
    max_difficulty: u32,
    challenge_timeout: Duration,
    timeout: Duration,
) -> Result<(PowChallenge, i64), PowError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_exit = StopOnDrop(stop.clone());
    let exchange = async {
        let mut bytes = [0u8; CHALLENGE_LEN];
        tokio::time::timeout(challenge_timeout, stream.read_exact(&mut bytes))
            .await
            .map_err(|_| PowError::NoChallenge(challenge_timeout))??;
        let challenge = PowChallenge::decode(&bytes)?;
        if i64::from(challenge.difficulty) > i64::from(max_difficulty) {
            return Err(PowError::TooHard {
                asked: challenge.difficulty,
                max: max_difficulty,
            });
        }
        let nonce = if challenge.difficulty <= 16 {
            // ≤ 2^16 expected hashes: cheaper than a thread hop.
            challenge.solve(&stop)
        } else {
            let stop = stop.clone();
            tokio::task::spawn_blocking(move || challenge.solve(&stop))
                .await
                .map_err(|_| PowError::SolverStopped)?
        }
        .ok_or(PowError::SolverStopped)?;
        stream.write_all(&PowAnswer { nonce }.encode()).await?;
        stream.flush().await?;
        Ok((challenge, nonce))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| PowError::Timeout(timeout))?
}

/// Raises the solver's stop flag when the client future ends or is dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_challenge() -> PowChallenge {
        let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
        PowChallenge {
            difficulty: 16,
            salt,
        }
    }

    #[test]
    fn reference_vector_encodings() {
        let challenge = vector_challenge();
        assert_eq!(
            hex::encode(challenge.encode()),
            "91128e4110000000000102030405060708090a0b0c0d0e0f"
        );
        assert_eq!(
            hex::encode(PowAnswer { nonce: 84956 }.encode()),
            "19738201dc4b010000000000"
        );
        let hash = Sha256::new_with_prefix(challenge.salt)
            .chain_update(84956i64.to_le_bytes())
            .finalize();
        assert!(hex::encode(hash).starts_with("422212365dcb0000"));
    }

    #[test]
    fn solver_finds_the_reference_nonce() {
        let challenge = vector_challenge();
        assert_eq!(challenge.solve(&AtomicBool::new(false)), Some(84956));
        assert!(challenge.is_solved_by(84956));
        assert!(!challenge.is_solved_by(84955));
    }

    #[test]
    fn little_endian_counting_differs_from_big_endian() {
        // The vector hash starts 42 22 …: big-endian counting would give 1 bit.
        let bits = leading_zero_bits(&vector_challenge().salt, 84956);
        assert!(bits >= 16, "{bits}");
    }

    #[test]
    fn non_positive_difficulty_accepts_any_nonce() {
        let challenge = PowChallenge {
            difficulty: -5,
            salt: [7; 16],
        };
        assert!(challenge.is_solved_by(12345));
        assert_eq!(challenge.solve(&AtomicBool::new(false)), Some(0));
    }

    #[test]
    fn stopped_solver_returns_none() {
        let challenge = PowChallenge {
            difficulty: 64,
            salt: [1; 16],
        };
        assert_eq!(challenge.solve(&AtomicBool::new(true)), None);
    }

    #[test]
    fn bad_magics_are_rejected() {
        let mut bytes = vector_challenge().encode();
        bytes[0] ^= 1;
        assert!(matches!(
            PowChallenge::decode(&bytes),
            Err(PowError::BadChallengeMagic { .. })
        ));
        let mut answer = PowAnswer { nonce: 1 }.encode();
        answer[3] ^= 0x80;
        assert!(matches!(
            PowAnswer::decode(&answer),
            Err(PowError::BadAnswerMagic { .. })
        ));
    }

    #[test]
    fn difficulty_above_64_cannot_be_configured() {
        assert!(matches!(
            PowChallenge::random(65),
            Err(PowError::BadDifficulty(65))
        ));
        assert_eq!(
            PowChallenge::random(64).map(|c| c.difficulty).ok(),
            Some(64)
        );
    }
}
