//! A node's stats and admin ports as `NodePorts::spawn` serves them: the admin routes take
//! POST with the credential only and never answer with CORS headers; the stats routes are
//! open, or need the credential when the config sets `http_access_hash`.

use std::net::SocketAddr;

use axum::routing::{get, post};
use axum::Router;
use cocoon_node::common::admin::{AdminPort, AdminToken};
use cocoon_node::common::ports::NodePorts;
use tokio::net::TcpListener;

async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// Starts stats and admin ports; `stats_token` as a config's `http_access_hash` would set it.
async fn start(stats_token: Option<&str>) -> (SocketAddr, SocketAddr, tokio::task::JoinSet<()>) {
    let (stats, stats_addr) = bind().await;
    let (admin, admin_addr) = bind().await;
    let ports = NodePorts {
        stats: Some(stats),
        stats_token: stats_token.and_then(AdminToken::new),
        admin: Some(AdminPort {
            listener: admin,
            token: AdminToken::new(stats_token.unwrap_or("generated-token")).expect("token"),
        }),
        ..NodePorts::default()
    };
    let stats_routes = Router::new().route("/jsonstats", get(|| async { "{}" }));
    // A handler that tries to add a CORS header: the admin port strips it.
    let admin_routes = Router::new().route(
        "/request/disable",
        post(|| async { ([("access-control-allow-origin", "*")], "disabled\n") }),
    );
    let mut tasks = tokio::task::JoinSet::new();
    ports.spawn(
        &mut tasks,
        stats_routes,
        admin_routes,
        ["t stats", "t admin"],
    );
    (stats_addr, admin_addr, tasks)
}

/// An HTTP client (reqwest here is built without a default TLS provider).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn status(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap) {
    let resp = req.send().await.expect("request");
    (resp.status().as_u16(), resp.headers().clone())
}

#[tokio::test]
async fn admin_routes_need_post_and_the_token_and_send_no_cors() {
    let (stats, admin, _tasks) = start(None).await;
    let http = client();
    let url = format!("http://{admin}/request/disable");
    let (s, h) = status(http.get(&url).bearer_auth("generated-token")).await;
    assert_eq!((s, h["allow"].to_str().ok()), (405, Some("POST")));
    assert_eq!(status(http.post(&url)).await.0, 401);
    assert_eq!(status(http.post(&url).bearer_auth("nope")).await.0, 403);
    let (s, h) = status(http.post(&url).bearer_auth("generated-token")).await;
    assert_eq!(s, 200);
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");
    let by_hash = format!("{url}?access_hash=generated-token");
    assert_eq!(status(http.post(&by_hash)).await.0, 200);
    // Without http_access_hash the stats are open.
    let stats_url = format!("http://{stats}/jsonstats");
    assert_eq!(status(http.get(&stats_url)).await.0, 200);
}

#[tokio::test]
async fn with_an_access_hash_the_stats_need_it_too() {
    let (stats, admin, _tasks) = start(Some("config-hash")).await;
    let http = client();
    let stats_url = format!("http://{stats}/jsonstats");
    assert_eq!(status(http.get(&stats_url)).await.0, 403);
    assert_eq!(status(http.get(&stats_url).bearer_auth("x")).await.0, 403);
    let by_hash = format!("{stats_url}?access_hash=config-hash");
    assert_eq!(status(http.get(&by_hash)).await.0, 200);
    let url = format!("http://{admin}/request/disable");
    assert_eq!(
        status(http.post(&url).bearer_auth("config-hash")).await.0,
        200
    );
}
