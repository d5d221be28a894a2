//! A hostile local user against a default `cocoon up`: the endpoints that change state or move
//! money are only on the admin ports — POST only, a credential required, no CORS headers —
//! the OpenAI port serves no `/request/*`, and no node listens beyond loopback.

mod common;

use common::UpNetwork;

/// `(status, headers)` of `method url` with `headers`.
async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = http
        .request(method, url)
        .header("Origin", "http://evil.example");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap_or_default())
}

fn assert_no_cors(headers: &reqwest::header::HeaderMap, what: &str) {
    let cors: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{what}: CORS headers {cors:?}");
}

/// One control endpoint of each node, and a harmless request for it.
fn controls(net: &UpNetwork) -> Vec<(String, String, String)> {
    let proxy_sc = "0:0000000000000000000000000000000000000000000000000000000000000000";
    vec![
        (
            "proxy".to_string(),
            "/request/charge?client=UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m".to_string(),
            net.node("proxy").admin.clone().expect("proxy admin"),
        ),
        (
            "worker1".to_string(),
            "/request/change_coefficient?coefficient=1.0".to_string(),
            net.node("worker1").admin.clone().expect("worker admin"),
        ),
        (
            "client".to_string(),
            format!("/request/topup?proxy={proxy_sc}"),
            net.node("client").admin.clone().expect("client admin"),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoints_need_post_and_the_credential_and_nothing_listens_beyond_loopback() {
    let net = UpNetwork::start(&["--workers", "1", "--fake-chunks", "2"]);
    let http = reqwest::Client::new();

    for (node, path, admin) in controls(&net) {
        let url = format!("http://{admin}{path}");
        let token = net.admin_token(&node);
        let bearer = |t: &str| vec![("Authorization", format!("Bearer {t}"))];
        for method in ["GET", "OPTIONS", "PUT"] {
            let (status, headers, _) = call(&http, method, &url, &bearer(&token)).await;
            assert_eq!(status, 405, "{node}: {method} {path}");
            assert_eq!(headers["allow"], "POST", "{node}");
            assert_no_cors(&headers, &format!("{node} {method}"));
        }
        let (status, headers, _) = call(&http, "POST", &url, &[]).await;
        assert_eq!(status, 401, "{node}: POST without a credential");
        assert_no_cors(&headers, &node);
        let (status, _, _) = call(&http, "POST", &url, &bearer("not-the-token")).await;
        assert_eq!(status, 403, "{node}: POST with a wrong credential");
        let wrong_hash = format!("{url}&access_hash=not-the-token");
        assert_eq!(call(&http, "POST", &wrong_hash, &[]).await.0, 403, "{node}");
        // The right credential reaches the handler (its answer depends on the node's state).
        let (status, headers, body) = call(&http, "POST", &url, &bearer(&token)).await;
        assert!(
            ![401, 403, 404, 405].contains(&status),
            "{node}: POST {path} with the token: {status} {body}"
        );
        assert_no_cors(&headers, &node);
        let by_hash = format!("{url}&access_hash={token}");
        let (status, _, body) = call(&http, "POST", &by_hash, &[]).await;
        assert!(
            ![401, 403].contains(&status),
            "{node}: ?access_hash: {status} {body}"
        );
    }
    let worker_admin = net.node("worker1").admin.clone().expect("worker admin");
    let (status, _, body) = call(
        &http,
        "POST",
        &format!("http://{worker_admin}/request/change_coefficient?coefficient=1.0"),
        &[(
            "Authorization",
            format!("Bearer {}", net.admin_token("worker1")),
        )],
    )
    .await;
    assert_eq!((status, body.trim()), (200, "coefficient set to 1000"));

    // The data and stats ports serve no control.
    let client = &net.client_url;
    for path in [
        "/request/topup?proxy=x",
        "/request/close?proxy=x",
        "/request/charge?proxy=x",
        "/request/withdraw?proxy=x",
        "/request/debuglogentry?request_guid=x",
        "/jsonstats",
    ] {
        for method in ["GET", "POST"] {
            let (status, _, _) = call(&http, method, &format!("{client}{path}"), &[]).await;
            assert_eq!(status, 404, "OpenAI port: {method} {path}");
        }
    }
    for node in ["proxy", "worker1", "client"] {
        let stats = net.node(node).stats.clone().expect("stats");
        for path in [
            "/request/disable",
            "/request/change_coefficient?coefficient=3.9",
        ] {
            for method in ["GET", "POST"] {
                let (status, _, _) =
                    call(&http, method, &format!("http://{stats}{path}"), &[]).await;
                assert!(
                    status == 404 || status == 405,
                    "{node} stats port: {method} {path}: {status}"
                );
            }
        }
    }

    #[cfg(target_os = "linux")]
    {
        let mut seen = std::collections::BTreeSet::new();
        for node in &net.nodes {
            for addr in common::sockets::listening_addrs(node.pid) {
                assert!(
                    addr.ip().is_loopback(),
                    "{} listens on {addr} (beyond loopback)",
                    node.name
                );
                seen.insert(addr.port());
            }
        }
        // Proxy: 2 RPC + stats + admin; worker: stats + admin; client: API + stats + admin.
        assert!(seen.len() >= 9, "listening ports seen: {seen:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn proc_socket_addresses_parse() {
    use common::sockets::parse_addr;
    let addr = |s: &str| Some(s.parse().expect("addr"));
    assert_eq!(parse_addr("0100007F:1F90"), addr("127.0.0.1:8080"));
    assert_eq!(parse_addr("00000000:0050"), addr("0.0.0.0:80"));
    assert_eq!(
        parse_addr("00000000000000000000000001000000:0050"),
        addr("[::1]:80")
    );
    assert_eq!(parse_addr("nonsense"), None);
}
