//! The engine node of `cocoon up`: the embedded engine on a real model (`--model-file`), an
//! engine the user runs (`--backend URL`), or else the FAKE engine (simulated answers), with
//! one line on how to get a real one.

use std::time::Duration;

use super::procs::{http_get, release_ports, Network};
use super::UpArgs;

/// The worker flags that put the embedded engine inside it (`--engine-in-worker`).
pub(super) fn in_worker_args(args: &UpArgs) -> Vec<String> {
    match (&args.model_file, args.engine_in_worker) {
        (Some(file), true) => {
            let mut a = vec![
                "--engine".to_string(),
                format!("local:{}", file.to_string_lossy()),
            ];
            if let Some(t) = args.threads {
                a.extend(["--threads".into(), t.to_string()]);
            }
            a
        }
        _ => Vec::new(),
    }
}

/// Starts (or names) the engine and returns its base URL.
pub(super) fn start(
    net: &mut Network,
    args: &UpArgs,
    port: u16,
    limit_args: &[String],
    timeout: Duration,
) -> anyhow::Result<String> {
    if let Some(url) = &args.backend {
        say!("cocoon up: using the engine at {url}");
        return Ok(url.trim_end_matches('/').to_string());
    }
    if let (true, Some(file)) = (args.engine_in_worker, &args.model_file) {
        say!(
            "cocoon up: engine inside each worker (embedded, model file {})",
            file.display()
        );
        return Ok("in-process".to_string());
    }
    release_ports(&[port]);
    let port_s = port.to_string();
    let mut engine_args: Vec<String> = match &args.model_file {
        Some(file) => {
            let mut a: Vec<String> = ["backend", "local", "--host", "127.0.0.1", "--port", &port_s]
                .iter()
                .map(|s| s.to_string())
                .collect();
            a.extend([
                "--model".into(),
                file.to_string_lossy().into_owned(),
                "--served-name".into(),
                args.model.clone(),
            ]);
            if let Some(t) = args.threads {
                a.extend(["--threads".into(), t.to_string()]);
            }
            a
        }
        None => {
            say!(
                "cocoon up: no model given, so the engine is the FAKE one (zeros, not text); for \
                 real answers on this CPU: cocoon up --model-file FILE.gguf or --model-name \
                 OWNER/REPO (a build with --features local-engine; see docs/local-engine.md)"
            );
            [
                "backend",
                "fake",
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
                "--model",
                &args.model,
                "--chunks",
                &args.fake_chunks.to_string(),
                "--delay-ms",
                &args.fake_delay_ms.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        }
    };
    engine_args.extend(limit_args.iter().cloned());
    let pid = net.spawn("engine", &engine_args)?;
    let url = format!("http://127.0.0.1:{port}");
    net.wait_ready("engine", timeout, || {
        http_get(&format!("127.0.0.1:{port}"), "/v1/models").is_ok_and(|(s, _)| s == 200)
    })?;
    let kind = match &args.model_file {
        Some(f) => format!("embedded, model file {}", f.display()),
        None => "fake".to_string(),
    };
    say!("cocoon up: engine up ({kind}) at {url} [pid {pid}]");
    Ok(url)
}
