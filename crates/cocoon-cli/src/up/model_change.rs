//! Model changes in a `cocoon up` network (`worker.changeModel`, delta §5.3):
//! every worker's config names a `change_model_script`, which the worker runs
//! with the new model when the proxy's admin endpoint
//! `POST /request/change_worker_model` asks it to.
//!
//! With `--change-model-script PATH` every worker runs that script. Without
//! it, `cocoon up` writes a SIMULATED script per worker
//! (`workerN-change-model.sim.sh`): it sets `model_name` in the worker's
//! config (through the hidden `cocoon up-set-worker-model`) and stops the
//! worker a second later, after the worker has answered the proxy; `cocoon
//! up` restarts it and it announces the new model. The fake engine answers
//! requests for any model, so the new model is served at once; a real engine
//! would have to be reconfigured by a real script.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Seconds the simulated script waits before stopping the worker (so that
/// the worker first answers `worker.changedModel`).
const RESTART_DELAY_SECS: u32 = 1;

/// `text` as one single-quoted `sh` word.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Write worker `name`'s simulated script into `dir`; returns its path.
pub fn write_simulated_script(
    dir: &Path,
    name: &str,
    exe: &Path,
    config: &Path,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}-change-model.sim.sh"));
    let text = format!(
        "#!/bin/sh\n\
         # SIMULATION written by `cocoon up`: a model change for the fake engine.\n\
         # Sets model_name in {name}'s config, then stops {name} (the worker running\n\
         # this script) so that `cocoon up` restarts it with the new model.\n\
         set -e\n\
         {} up-set-worker-model --config {} -- \"$1\"\n\
         ( sleep {RESTART_DELAY_SECS}; kill -TERM \"$PPID\" ) >/dev/null 2>&1 &\n",
        sh_quote(&exe.to_string_lossy()),
        sh_quote(&config.to_string_lossy()),
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} executable", path.display()))?;
    }
    Ok(path)
}

/// `cocoon up-set-worker-model`: the simulated script's helper.
#[derive(Debug, clap::Args)]
pub struct SetWorkerModelArgs {
    /// The worker config (`workerRunner.config` JSON) to change.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The new `model_name`.
    pub model: String,
}

/// Set `model_name` in the worker config, atomically (temporary file + rename).
pub fn set_worker_model(args: SetWorkerModelArgs) -> anyhow::Result<()> {
    if args.model.is_empty() || args.model.chars().any(char::is_control) {
        bail!("invalid model name {:?}", args.model);
    }
    let path = &args.config;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Some(fields) = config.as_object_mut() else {
        bail!("{} is not a JSON object", path.display());
    };
    fields.insert("model_name".into(), args.model.clone().into());
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::write(&tmp, serde_json::to_string_pretty(&config)?)
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))?;
    eprintln!("{}: model_name set to {:?}", path.display(), args.model);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_helper_sets_only_model_name() {
        let dir = std::env::temp_dir().join(format!("cocoon-up-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("worker1.json");
        std::fs::write(&config, r#"{"model_name":"old","http_port":5}"#).unwrap();
        set_worker_model(SetWorkerModelArgs {
            config: config.clone(),
            model: "new/model@x".into(),
        })
        .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(v["model_name"], "new/model@x");
        assert_eq!(v["http_port"], 5);
        assert!(set_worker_model(SetWorkerModelArgs {
            config: config.clone(),
            model: "bad\nname".into(),
        })
        .is_err());
        let script =
            write_simulated_script(&dir, "worker1", Path::new("/bin/cocoon"), &config).unwrap();
        let text = std::fs::read_to_string(script).unwrap();
        assert!(text.contains("SIMULATION"), "{text}");
        assert!(
            text.contains("'/bin/cocoon' up-set-worker-model --config"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
