//! A model change round-trips through `cocoon up`: the proxy's admin
//! `POST /request/change_worker_model` asks a worker to change its model; the
//! worker runs the SIMULATED change-model script `cocoon up` wrote for it
//! (sets model_name in its config, stops it); `cocoon up` restarts the
//! worker, which announces the new model; the client then lists it and a
//! request for it is answered (the fake engine answers any model).

mod common;

use std::time::Duration;

use common::{eventually, json_stats, UpNetwork};
use serde_json::{json, Value};

const NEW_MODEL: &str = "Qwen/Qwen3-32B";

async fn client_models(http: &reqwest::Client, base: &str) -> Value {
    match http.get(format!("{base}/v1/models")).send().await {
        Ok(resp) => resp.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn lists_with_a_worker(models: &Value, model: &str) -> bool {
    models["data"].as_array().is_some_and(|data| {
        data.iter()
            .any(|m| m["id"] == model && m["workers"].as_array().is_some_and(|w| !w.is_empty()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_change_round_trips_through_cocoon_up() {
    let net = UpNetwork::start(&["--workers", "1", "--fake-chunks", "2"]);
    let http = reqwest::Client::new();
    let proxy = net.node("proxy").clone();
    let stats = json_stats(&http, proxy.stats.as_deref().expect("proxy stats")).await;
    let conn = &stats["worker_connections"][0];
    assert_eq!(conn["model"], "Qwen/Qwen3-8B", "{stats}");
    let id = conn["connection_id"].as_u64().expect("connection id");

    // Without the admin credential nothing changes.
    let url = format!(
        "http://{}/request/change_worker_model",
        proxy.admin.as_deref().expect("proxy admin")
    );
    let form = [
        ("connection_id", id.to_string()),
        ("new_model_name", NEW_MODEL.to_owned()),
    ];
    let unauthorized = http.post(&url).form(&form).send().await.expect("post");
    assert_eq!(unauthorized.status().as_u16(), 401);

    let resp = http
        .post(&url)
        .bearer_auth(net.admin_token("proxy"))
        .form(&form)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json answer");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["result"]["model"], NEW_MODEL, "{body}");

    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(net.dir().join("worker1.json")).expect("worker1.json"),
    )
    .expect("config");
    assert_eq!(
        config["model_name"], NEW_MODEL,
        "the script rewrote the config"
    );

    // The worker restarts and announces the new model; the old one is gone.
    let base = net.client_url.clone();
    eventually(
        Duration::from_secs(90),
        "the client lists the new model",
        || {
            let (http, base) = (http.clone(), base.clone());
            async move { lists_with_a_worker(&client_models(&http, &base).await, NEW_MODEL) }
        },
    )
    .await;
    assert!(!lists_with_a_worker(
        &client_models(&http, &base).await,
        "Qwen/Qwen3-8B"
    ));
    net.wait_line("worker1 restarted", Duration::from_secs(5));

    let answer = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": NEW_MODEL, "messages": [{"role": "user", "content": "Hello!"}]}))
        .send()
        .await
        .expect("chat");
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("JSON answer");
    assert!(v["choices"][0]["message"]["content"].is_string(), "{text}");
}
