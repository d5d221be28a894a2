//! `cocoon up --once --model-file` on the devnet: the network runs on the embedded engine with
//! the real test model; the one answer is real text, and the devnet charges and pays exactly
//! the tokens of the engine's `usage` (`up --once` itself fails otherwise). Also
//! `cocoon backend local` refuses a file that is not a model, with a clear message.

#![cfg(feature = "local-engine")]

use std::process::Command;

use serde_json::Value;

/// The networks here each run the real model on every core: one at a time, or they starve
/// each other on a small machine.
static ONE_NETWORK_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port().to_string()
}

/// Runs `cocoon up --once --workers 1 --model-file <test model>` with `extra` flags, one
/// network at a time; returns its stdout after checking it succeeded (`None`: no test model).
fn up_once_on_the_test_model(dir_name: &str, extra: &[&str]) -> Option<String> {
    let model = cocoon_engine::model_cache::test_model_or_skip()?;
    let _one = ONE_NETWORK_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = std::env::temp_dir().join(format!("{dir_name}-{}", std::process::id()));
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .args(["up", "--once", "--workers", "1"])
        .args(extra)
        .args(["--ready-timeout", "120", "--port", &port])
        .arg("--dir")
        .arg(&dir)
        .arg("--model-file")
        .arg(&model)
        .output()
        .expect("run cocoon");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cocoon up --once failed (its files are kept in {})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Some(stdout)
}

#[test]
fn up_once_on_the_embedded_engine_answers_with_real_text_and_bills_its_usage() {
    let Some(stdout) = up_once_on_the_test_model("cocoon-up-local-engine", &[]) else {
        return;
    };
    assert!(stdout.contains("engine up (embedded"), "{stdout}");
    let marker = "cocoon up: one request → HTTP 200\n";
    let start = stdout.find(marker).expect("request line") + marker.len();
    let rest = &stdout[start..];
    let end = rest.find("\ncocoon up: ").unwrap_or(rest.len());
    let answer: Value = serde_json::from_str(rest[..end].trim()).expect("answer JSON");
    let text = answer["choices"][0]["message"]["content"]
        .as_str()
        .expect("content");
    assert!(text.chars().any(char::is_alphabetic), "real text: {text:?}");
    assert!(
        stdout.contains(&format!("cocoon up: the answer: {text}")),
        "{stdout}"
    );
    let usage = &answer["usage"];
    assert!(
        usage["prompt_tokens"].as_u64().unwrap() > 0
            && usage["completion_tokens"].as_u64().unwrap() > 0
    );
}

#[test]
fn up_once_with_the_engine_inside_the_worker_answers() {
    let Some(stdout) = up_once_on_the_test_model(
        "cocoon-up-engine-in-worker",
        &["--no-payments", "--engine-in-worker"],
    ) else {
        return;
    };
    assert!(stdout.contains("engine inside each worker"), "{stdout}");
    assert!(stdout.contains("(engine in-process,"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("cocoon up: the answer: "))
        .expect("answer line");
    assert!(line.chars().skip(23).any(char::is_alphabetic), "{line}");
}

#[test]
fn backend_local_refuses_a_file_that_is_not_a_model() {
    let bogus = std::env::temp_dir().join(format!("not-a-model-{}.gguf", std::process::id()));
    std::fs::write(&bogus, b"definitely not GGUF").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .args(["backend", "local", "--port", "0", "--model"])
        .arg(&bogus)
        .output()
        .expect("run cocoon");
    let _ = std::fs::remove_file(&bogus);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a GGUF file"), "{stderr}");
}

#[test]
fn a_malformed_hub_model_name_is_refused_with_the_expected_form() {
    for sub in [
        &["backend", "local", "--port", "0"][..],
        &["up", "--once"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
            .args(sub)
            .args(["--model-name", "not-a-repo"])
            .output()
            .expect("run cocoon");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("OWNER/REPO"), "{sub:?}: {stderr}");
    }
}
