//! `cocoon encrypt-message` (delta-2026-04 §2.7) as a process: what it encrypts opens at
//! the key manager with the caller's key as sender; with `-d` it decrypts the answer the
//! April reference sent (`$COCOON_VECTORS/encryption`) to exactly the reference tool's
//! plaintext; bad input fails with the reference's texts. The reference tool picks a random
//! nonce and padding, so its ciphertext cannot be reproduced byte for byte: the vector
//! checks decrypt (ours ← reference) and encrypt-then-open (reference's format → ours).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cocoon_e2e::Seed;
use serde_json::Value;

/// The reference key manager's fixed test key (delta §2.3).
const KM_SEED: &str = "070ad82e6132dab32067fb720afd0060555a64f905bbec0dc2849088951b3a63";
const KM_PUBLIC_B64: &str = "+2fQ/NM48g4NSVfZ6CrcEB0uNROkSKOrRgUu4biMWBg=";
const KM_PUBLIC_HEX: &str = "fb67d0fcd338f20e0d4957d9e82adc101d2e3513a448a3ab46052ee1b88c5818";

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "cocoon-encrypt-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cocoon encrypt-message ARGS` with `stdin`; (success, stdout, stderr).
fn encrypt_message(args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .arg("encrypt-message")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cocoon");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn km_seed() -> Seed {
    Seed::from_bytes(hex::decode(KM_SEED).unwrap().try_into().unwrap())
}

fn write_seed(dir: &Path, bytes: [u8; 32]) -> String {
    let path = dir.join("caller.seed");
    std::fs::write(&path, bytes).expect("seed file");
    path.to_string_lossy().into_owned()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn encrypted_values_open_at_the_key_manager_one_line_each() {
    let scratch = Scratch::new("roundtrip");
    let caller = [42u8; 32];
    let key = write_seed(&scratch.0, caller);
    // Two values, the second spread over lines: a stream of JSON values, not of lines.
    let input = br#"{"model":"m","messages":[{"role":"user","content":"first"}]}
        {"model":"m",
         "max_tokens":7,"messages":[{"role":"user","content":"second"}]}"#;
    for peer in [KM_PUBLIC_B64, KM_PUBLIC_HEX] {
        let (ok, out, err) = encrypt_message(&["-k", &key, "-p", peer], input);
        assert!(ok, "{err}");
        let values = lines(&out);
        assert_eq!(values.len(), 2, "{out}");
        assert!(!out.contains("first") && !out.contains("second"), "{out}");
        for (value, text) in values.iter().zip(["first", "second"]) {
            let (clear, sender) = cocoon_e2e::json::decrypt_request_body(
                value.to_string().as_bytes(),
                Some(&km_seed()),
            )
            .expect("opens at the key manager");
            assert_eq!(sender, Some(Seed::from_bytes(caller).public_key()));
            assert_eq!(clear["messages"][0]["content"], text);
            assert_eq!(clear["model"], "m");
        }
        assert_eq!(values[1]["max_tokens"], 7, "numbers stay clear");
    }
}

#[test]
fn bad_input_fails_with_the_reference_texts() {
    let scratch = Scratch::new("errors");
    let key = write_seed(&scratch.0, [1; 32]);
    let (ok, _, err) = encrypt_message(&["-k", &key, "-p", KM_PUBLIC_HEX], b"[1,2]");
    assert!(!ok && err.contains("expected json object"), "{err}");
    let (ok, _, err) = encrypt_message(&["-k", &key, "-p", "abcd"], b"{}");
    assert!(!ok && err.contains("public_key bad length"), "{err}");
    let short = scratch.0.join("short.seed");
    std::fs::write(&short, [0u8; 31]).unwrap();
    let (ok, _, err) =
        encrypt_message(&["-k", short.to_str().unwrap(), "-p", KM_PUBLIC_HEX], b"{}");
    assert!(!ok && err.contains("32 raw bytes"), "{err}");
    // Decrypting a clear answer while expecting the key manager's: refused.
    let (ok, _, err) = encrypt_message(&["-d", "-k", &key, "-p", KM_PUBLIC_HEX], b"{\"a\":\"b\"}");
    assert!(
        !ok && err.contains("encryption key is provided, but request is unencrypted"),
        "{err}"
    );
}

/// The encryption vectors folder; skipped without `COCOON_VECTORS`, a failure under CI.
fn vectors() -> Option<PathBuf> {
    match std::env::var_os("COCOON_VECTORS") {
        Some(dir) => Some(PathBuf::from(dir).join("encryption")),
        None if std::env::var_os("CI").is_some() => {
            panic!("COCOON_VECTORS is not set, and CI is: the encryption vectors are required")
        }
        None => {
            println!("skipped: COCOON_VECTORS not set (the April-2026 encryption vectors)");
            None
        }
    }
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("vector {} missing: {e}", path.display()))
}

#[test]
fn decrypt_mode_reproduces_the_reference_tools_plaintext() {
    let Some(dir) = vectors() else {
        return;
    };
    let key = dir.join("caller.seed");
    let (ok, out, err) = encrypt_message(
        &["-d", "-k", key.to_str().unwrap(), "-p", KM_PUBLIC_B64],
        &read(&dir, "answer-stream.enc.ndjson"),
    );
    assert!(ok, "{err}");
    let expected = String::from_utf8(read(&dir, "answer-stream.dec.ndjson")).unwrap();
    assert_eq!(lines(&out), lines(&expected));
    assert_eq!(
        out.trim_end(),
        expected.trim_end(),
        "byte for byte, as the reference tool"
    );
}

#[test]
fn our_encryption_of_the_vector_request_has_the_reference_shape_and_opens() {
    let Some(dir) = vectors() else {
        return;
    };
    let key = dir.join("caller.seed");
    let (ok, out, err) = encrypt_message(
        &["-k", key.to_str().unwrap(), "-p", KM_PUBLIC_HEX],
        &read(&dir, "plain.json"),
    );
    assert!(ok, "{err}");
    let ours = lines(&out).remove(0);
    let reference: Value = serde_json::from_slice(&read(&dir, "enc.json")).unwrap();
    let names = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&reference), "same members");
    for fixed in [
        "sender_public_key",
        "receiver_public_key",
        "is_encrypted",
        "model",
    ] {
        assert_eq!(ours[fixed], reference[fixed], "{fixed}");
    }
    let (clear, _) =
        cocoon_e2e::json::decrypt_request_body(ours.to_string().as_bytes(), Some(&km_seed()))
            .expect("opens");
    let plain: Value = serde_json::from_slice(&read(&dir, "plain.json")).unwrap();
    assert_eq!(clear["messages"], plain["messages"]);
}
