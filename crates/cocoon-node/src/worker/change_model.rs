//! `worker.changeModel` (delta-2026-04 §5.3): a proxy asks the worker to serve another model.
//! The worker runs the config's `change_model_script` with the new model string as its only
//! argument; the script reconfigures or restarts the engine. The worker's announced model
//! does not change (as in the reference: the script is expected to restart the worker too,
//! if the announcement must change).
//!
//! Unlike the reference, which runs the script synchronously and blocks the whole worker
//! meanwhile (§8), the script runs as a child process while the worker keeps serving, at
//! most one at a time, killed after [`ModelChange::timeout`]. Errors (code 602, the
//! reference's texts): no script configured; an unknown model (when image hashes are
//! checked, `sha256(new_model)` of the whole string must be a root model hash); the script
//! failed (non-zero exit, could not start, or timed out); another change still running.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The reference's error code for a refused model change.
pub const MODEL_CHANGE_ERROR: i32 = 602;

/// How model changes are done (part of the worker settings).
#[derive(Clone, Debug)]
pub struct ModelChange {
    /// The script (`change_model_script`); empty = model changes are refused.
    pub script: String,
    /// When image hashes are checked: the root's model hashes (`sha256(model)`); `None` =
    /// any model.
    pub allowed_hashes: Option<Vec<[u8; 32]>>,
    /// How long the script may run.
    pub timeout: Duration,
}

impl Default for ModelChange {
    fn default() -> Self {
        ModelChange {
            script: String::new(),
            allowed_hashes: None,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Runs model changes one at a time.
#[derive(Debug, Default)]
pub struct ModelChanger {
    running: tokio::sync::Mutex<()>,
}

impl ModelChanger {
    /// Changes to `new_model` as `how` says; `Err((602, message))` as the reference answers.
    pub async fn change(&self, how: &ModelChange, new_model: &str) -> Result<(), (i32, String)> {
        let refuse = |m: String| Err((MODEL_CHANGE_ERROR, m));
        if how.script.is_empty() {
            return refuse("cannot change model: no script in config".into());
        }
        if new_model.is_empty() || new_model.starts_with('-') || new_model.contains('\0') {
            return refuse(format!(
                "cannot change model: invalid model name {new_model:?}"
            ));
        }
        if let Some(allowed) = &how.allowed_hashes {
            let hash: [u8; 32] = Sha256::digest(new_model.as_bytes()).into();
            if !allowed.contains(&hash) {
                return refuse(format!("cannot change model: unknown model {new_model:?}"));
            }
        }
        let Ok(_guard) = self.running.try_lock() else {
            return refuse("cannot change model: another model change is running".into());
        };
        tracing::info!(script = %how.script, model = new_model, "model change: running the script");
        let child = tokio::process::Command::new(&how.script)
            .arg(new_model)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(script = %how.script, error = %e, "model change: the script did not start");
                return refuse(format!(
                    "cannot change model: model change script failed ({e})"
                ));
            }
        };
        match tokio::time::timeout(how.timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => {
                tracing::info!(model = new_model, "model change: the script succeeded");
                Ok(())
            }
            Ok(Ok(status)) => {
                tracing::warn!(model = new_model, %status, "model change: the script failed");
                refuse(format!(
                    "cannot change model: model change script failed ({status})"
                ))
            }
            Ok(Err(e)) => refuse(format!(
                "cannot change model: model change script failed ({e})"
            )),
            Err(_) => {
                let _ = child.kill().await;
                tracing::warn!(model = new_model, timeout = ?how.timeout, "model change: the script timed out and was killed");
                refuse(format!(
                    "cannot change model: model change script failed (timed out after {:?})",
                    how.timeout
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("script");
        writeln!(f, "#!/bin/sh\n{body}").expect("write");
        drop(f);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.to_string_lossy().into_owned()
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cocoon-model-change-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[tokio::test]
    async fn refusals_carry_the_reference_texts() {
        let changer = ModelChanger::default();
        let none = ModelChange::default();
        let (code, msg) = changer.change(&none, "m").await.unwrap_err();
        assert_eq!(
            (code, msg.as_str()),
            (602, "cannot change model: no script in config")
        );

        let dir = scratch("refusals");
        let ok = ModelChange {
            script: script(&dir, "ok.sh", "exit 0"),
            allowed_hashes: Some(vec![Sha256::digest(b"known/model@abc").into()]),
            ..ModelChange::default()
        };
        let (_, msg) = changer.change(&ok, "other/model").await.unwrap_err();
        assert!(msg.contains("unknown model"), "{msg}");
        assert_eq!(changer.change(&ok, "known/model@abc").await, Ok(()));
        let (_, msg) = changer.change(&ok, "-rf").await.unwrap_err();
        assert!(msg.contains("invalid model name"), "{msg}");

        let failing = ModelChange {
            script: script(&dir, "fail.sh", "exit 3"),
            ..ModelChange::default()
        };
        let (_, msg) = changer.change(&failing, "m").await.unwrap_err();
        assert!(msg.contains("model change script failed"), "{msg}");
        let missing = ModelChange {
            script: dir.join("absent.sh").to_string_lossy().into_owned(),
            ..ModelChange::default()
        };
        let (_, msg) = changer.change(&missing, "m").await.unwrap_err();
        assert!(msg.contains("model change script failed"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_script_gets_the_model_and_a_slow_one_is_killed() {
        let dir = scratch("slow");
        let out = dir.join("seen");
        let record = ModelChange {
            script: script(
                &dir,
                "record.sh",
                &format!("echo \"$1\" > {}", out.display()),
            ),
            ..ModelChange::default()
        };
        let changer = ModelChanger::default();
        assert_eq!(changer.change(&record, "Qwen/Qwen3-32B").await, Ok(()));
        assert_eq!(
            std::fs::read_to_string(&out).expect("seen").trim(),
            "Qwen/Qwen3-32B"
        );

        let slow = ModelChange {
            script: script(&dir, "slow.sh", "sleep 30"),
            timeout: Duration::from_millis(300),
            ..ModelChange::default()
        };
        let started = std::time::Instant::now();
        let (_, msg) = changer.change(&slow, "m").await.unwrap_err();
        assert!(msg.contains("timed out"), "{msg}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "killed, not waited for"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
