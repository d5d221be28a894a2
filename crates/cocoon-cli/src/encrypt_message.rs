//! `cocoon encrypt-message`: the reference's `encrypt-message` tool (delta-2026-04 §2.7).
//! Reads a stream of JSON values from stdin and writes one JSON per line: each object
//! encrypted from our seed (`-k`) to the peer key (`-p`) as a caller does (direction `c`),
//! or with `-d` decrypted as a caller reads an answer (direction `w`), the sender checked
//! to be the peer key. Values are processed as they arrive; the first failure stops with
//! the reference's error text and a non-zero exit. Members are written in byte order of
//! their names, as the reference tool writes them.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use cocoon_e2e::json::{decrypt_json, encrypt_json};
use cocoon_e2e::{Direction, E2eError, PublicKey, Receiver, Seed};
use serde_json::Value;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
head -c 32 /dev/urandom > my.seed\n  \
echo '{\"model\":\"Qwen/Qwen3-8B\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}' \\\n    \
| cocoon encrypt-message -k my.seed -p +2fQ/NM48g4NSVfZ6CrcEB0uNROkSKOrRgUu4biMWBg= > request.json\n  \
curl -s http://127.0.0.1:10000/v1/chat/completions -d @request.json \\\n    \
| cocoon encrypt-message -d -k my.seed -p +2fQ/NM48g4NSVfZ6CrcEB0uNROkSKOrRgUu4biMWBg=\n\n\
The peer key is a key manager public key from the root config's registered_public_keys \
(32 raw characters, 64 hex or 44 base64). Strings are encrypted at any depth except the \
envelope and the routing fields (model, max_tokens, …); numbers, booleans and null stay clear.")]
pub struct EncryptMessageArgs {
    /// Our 32-byte Ed25519 seed, a raw binary file.
    #[arg(short = 'k', long = "key", value_name = "FILE")]
    pub key: PathBuf,
    /// The peer's public key: 32 raw characters, 64 hex digits or 44 base64 characters.
    #[arg(short = 'p', long = "peer", value_name = "KEY")]
    pub peer: String,
    /// Decrypt answers (worker → caller) instead, checking they come from the peer key.
    #[arg(short = 'd', long = "decrypt")]
    pub decrypt: bool,
}

pub fn run(args: EncryptMessageArgs) -> anyhow::Result<()> {
    let seed = read_seed(&args.key)?;
    let peer =
        PublicKey::parse_field(args.peer.as_bytes()).map_err(|e| anyhow::anyhow!("-p: {e}"))?;
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    transform(stdin, &mut out, &seed, &peer, args.decrypt)
}

/// Reads the values of `input` one by one and writes each, transformed, as one line.
pub fn transform(
    input: impl BufRead,
    out: &mut impl Write,
    seed: &Seed,
    peer: &PublicKey,
    decrypt: bool,
) -> anyhow::Result<()> {
    for (index, value) in serde_json::Deserializer::from_reader(input)
        .into_iter::<Value>()
        .enumerate()
    {
        let value = value.with_context(|| format!("stdin value {}: not JSON", index + 1))?;
        let Value::Object(mut object) = value else {
            anyhow::bail!("stdin value {}: {}", index + 1, E2eError::NotJsonObject);
        };
        let done = if decrypt {
            let receiver = Receiver::Caller {
                seed: Some(seed),
                expected_sender: Some(*peer),
            };
            decrypt_json(&mut object, receiver).map(|_| ())
        } else {
            encrypt_json(&mut object, seed, peer, Direction::CallerToWorker)
        };
        done.map_err(|e| anyhow::anyhow!("stdin value {}: {e}", index + 1))?;
        writeln!(out, "{}", sorted(Value::Object(object)))?;
        out.flush()?;
    }
    Ok(())
}

/// Members in byte order of their names at every depth, as the reference tool writes them
/// (its JSON objects are `std::map`s), whatever order they came in.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(members) => {
            let mut entries: Vec<(String, Value)> = members.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn read_seed(path: &std::path::Path) -> anyhow::Result<Seed> {
    let bytes = std::fs::read(path).with_context(|| format!("reading -k {}", path.display()))?;
    let seed: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!(
            "-k {}: a seed is 32 raw bytes, the file has {}",
            path.display(),
            b.len()
        )
    })?;
    Ok(Seed::from_bytes(seed))
}
