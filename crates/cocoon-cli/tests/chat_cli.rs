//! `cocoon chat` against a `cocoon up` network (real processes: fake engine, proxy, workers,
//! the devnet ledger; simulated TEE): the library connects with the run directory's
//! files, streams the answer to stdout and reports the tokens billed; without the named
//! simulation option the default `tdx` policy refuses the fake-TEE proxy before sending.

mod common;

use std::process::Command;

use common::UpNetwork;

fn chat(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .arg("chat")
        .args(args)
        .output()
        .expect("run cocoon chat");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn chat_streams_an_answer_through_the_library_and_reports_the_tokens_billed() {
    let net = UpNetwork::start(&["--workers", "1", "--fake-chunks", "5"]);
    let dir = net.dir().to_string_lossy().into_owned();

    let (ok, out, err) = chat(&["--dir", &dir, "--simulated-fake-tee", "Hello", "there"]);
    eprintln!("stdout: {out}\nstderr: {err}");
    assert!(ok, "{err}");
    assert!(!out.trim().is_empty(), "answer text on stdout");
    let billed = err
        .lines()
        .find(|l| l.starts_with("tokens billed: prompt"))
        .unwrap_or_else(|| panic!("no billing line: {err}"));
    // `cocoon up` runs a key manager that registered a key on the devnet root: the library
    // encrypts to it by default.
    assert!(billed.contains("encrypted end to end: yes"), "{billed}");
    let total: u64 = billed
        .split("total ")
        .nth(1)
        .and_then(|t| t.split(';').next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in {billed}"));
    assert!(total > 0, "{billed}");

    // The library's example program (crates/cocoon-client/examples/chat.rs), built by
    // `cargo test --workspace`: the same encrypted, streamed chat.
    match example_binary() {
        Some(example) => {
            let out = Command::new(&example)
                .args([&dir, "Hello from the example"])
                .output()
                .expect("run the example");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "example failed: {stderr}");
            assert!(!out.stdout.is_empty(), "the example printed the answer");
            assert!(stderr.contains("encrypted end to end: true"), "{stderr}");
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs `cargo test --workspace`, which builds the cocoon-client example"
            );
            println!("skipped the example: build it with `cargo test --workspace` (or `cargo build -p cocoon-client --example chat`)");
        }
    }

    // The default policy (tdx) refuses the simulated TEE: nothing is sent.
    let (ok, _, err) = chat(&["--dir", &dir, "--connect-timeout", "3", "Hello"]);
    assert!(!ok);
    assert!(
        err.contains("no proxy ready") && err.contains("attested link"),
        "{err}"
    );
}

/// `target/<profile>/examples/chat`, next to this test's own `deps/` directory.
fn example_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let path = profile_dir
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    path.is_file().then_some(path)
}
