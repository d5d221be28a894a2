//! `cocoon devnet status|fund|advance-time` over a devnet ledger file, through the binary.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const WALLET: &str = "0:4444444444444444444444444444444444444444444444444444444444444444";

fn cocoon(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .args(args)
        .output()
        .expect("run cocoon");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ledger_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn fund_and_advance_time_show_up_in_status() {
    let dir = std::env::temp_dir().join(format!("cocoon-devnet-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let ledger = ledger_arg(&dir.join("devnet.json"));

    let (ok, _, err) = cocoon(&["devnet", "status", "--ledger", &ledger]);
    assert!(!ok && err.contains("no devnet ledger"), "{err}");

    let (ok, out, err) = cocoon(&[
        "devnet",
        "fund",
        "--ledger",
        &ledger,
        "--wallet",
        WALLET,
        "--nanoton",
        "7000000000",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("devnet: funded"), "{out}");
    let (ok, _, err) = cocoon(&[
        "devnet",
        "advance-time",
        "--ledger",
        &ledger,
        "--seconds",
        "90",
    ]);
    assert!(ok, "{err}");

    let (ok, out, err) = cocoon(&["devnet", "status", "--ledger", &ledger, "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).expect("status json");
    assert_eq!(status["network"], "devnet");
    assert_eq!(status["minted_nanoton"], 7_000_000_000u64);
    assert_eq!(
        status["clock"],
        cocoon_ledger::ledger::devnet::DEVNET_GENESIS_TIME + 90
    );
    let accounts = status["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 1, "{status}");
    assert_eq!(accounts[0]["role"], "wallet");
    assert_eq!(accounts[0]["address"], WALLET);
    assert_eq!(accounts[0]["balance_nanoton"], 7_000_000_000u64);

    let (ok, out, _) = cocoon(&["devnet", "status", "--ledger", &ledger]);
    assert!(
        ok && out.starts_with("devnet ledger") && out.contains(WALLET),
        "{out}"
    );

    let (ok, _, err) = cocoon(&[
        "devnet",
        "fund",
        "--ledger",
        &ledger,
        "--wallet",
        "not-an-address",
        "--nanoton",
        "1",
    ]);
    assert!(!ok && err.contains("invalid TON address"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
