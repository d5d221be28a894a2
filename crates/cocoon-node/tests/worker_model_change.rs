//! `worker.changeModel` end to end (delta-2026-04 §5.3): the proxy's admin endpoint
//! `/request/change_worker_model` reaches a REAL cocoon-rs worker, which runs its
//! `change_model_script` with the new model and answers; a worker without a script refuses
//! with the reference's text; bad input and unknown connections get clear 4xx answers.

mod proxy_common;

use std::os::unix::fs::PermissionsExt;

use cocoon_node::fake_engine::{serve_fake_engine, FakeEngineOptions};
use cocoon_node::worker::ModelChange;
use proxy_common::*;

fn conn_id(proxy: &cocoon_node::proxy::ProxyHandle, model: &str) -> u64 {
    proxy
        .shared
        .registry
        .snapshot()
        .into_iter()
        .flat_map(|(_, conns)| conns)
        .find(|c| c.model == model)
        .map(|c| c.id)
        .expect("connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_asks_a_worker_to_change_its_model_and_the_script_runs() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("cocoon-change-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let seen = dir.join("seen");
    let script = dir.join("change.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > {}\n", seen.display()),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let proxy = start_proxy().await;
    let engine = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("engine");
    let engine_addr = engine.local_addr().expect("addr").to_string();
    tokio::spawn(serve_fake_engine(engine, FakeEngineOptions::default()));
    let scripted = spawn_real_worker(cocoon_node::worker::WorkerSettings {
        model_change: ModelChange {
            script: script.to_string_lossy().into_owned(),
            ..ModelChange::default()
        },
        ..real_worker_settings(&proxy, &engine_addr, "old/model")
    });
    let bare = spawn_real_worker(real_worker_settings(&proxy, &engine_addr, "bare/model"));
    wait_until("both workers ready", || {
        ready_workers(&proxy, "old/model") == 1 && ready_workers(&proxy, "bare/model") == 1
    })
    .await;

    let path = |id: u64, model: &str| {
        format!("/request/change_worker_model?connection_id={id}&new_model_name={model}")
    };
    let (status, body) = admin_post(
        &proxy,
        ADMIN_TOKEN,
        &path(conn_id(&proxy, "old/model"), "new%2Fmodel"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(&seen).expect("script ran").trim(),
        "new/model"
    );

    let (status, body) = admin_post(
        &proxy,
        ADMIN_TOKEN,
        &path(conn_id(&proxy, "bare/model"), "x"),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("cannot change model: no script in config"),
        "{body}"
    );

    let (status, body) = admin_post(&proxy, ADMIN_TOKEN, &path(999, "x")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = admin_post(
        &proxy,
        ADMIN_TOKEN,
        "/request/change_worker_model?connection_id=1",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("new_model_name"), "{body}");
    // Without the credential nothing is sent.
    let (status, _) = admin_post(&proxy, "wrong", &path(conn_id(&proxy, "old/model"), "y")).await;
    assert!(status == 401 || status == 403, "{status}");
    assert_eq!(
        std::fs::read_to_string(&seen).expect("seen").trim(),
        "new/model"
    );

    scripted.abort();
    bare.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
