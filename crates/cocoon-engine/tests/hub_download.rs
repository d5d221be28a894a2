//! Downloads by name ([`cocoon_engine::hub`]) from a local stand-in for the Hugging Face hub
//! (the same HTTP surface hf-hub uses: `/api/models/OWNER/REPO/revision/main`, and
//! `/OWNER/REPO/resolve/main/FILE` with byte ranges, `etag`, `x-repo-commit`): the only GGUF of
//! a repository is found and downloaded byte for byte, then served from the cache with the hub
//! gone; a download cut in the middle resumes where it stopped; a file whose SHA-256 differs
//! from the hub's is refused and not kept; a hub that stops sending fails after the stall
//! limit instead of hanging.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cocoon_engine::hub::{Hub, HubModel};
use sha2::{Digest, Sha256};

const SIZE: usize = 25_000_000; // three of hf-hub's 10 MB chunks
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Default)]
struct Behaviour {
    /// Answer 500 to the first request for a range starting at or after 10 MB.
    fail_second_chunk_once: bool,
    /// Announce this etag instead of the file's SHA-256.
    wrong_etag: bool,
    /// Never answer a download request (the size probe `bytes=0-0` still works).
    stall: bool,
}

struct MockHub {
    body: Vec<u8>,
    sha256: String,
    behaviour: Behaviour,
    failed_once: AtomicBool,
    ranges: Mutex<Vec<(usize, usize)>>,
}

fn body() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..SIZE)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

async fn info() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "sha": COMMIT,
        "siblings": [{"rfilename": "README.md"}, {"rfilename": "model.Q4_1.gguf"}]
    }))
}

async fn resolve(
    State(hub): State<Arc<MockHub>>,
    Path((_owner, _repo, _file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
    let Some((start, end)) = range else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let end = end.min(SIZE - 1);
    if end > 0 {
        hub.ranges.lock().unwrap().push((start, end));
        if hub.behaviour.stall {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if hub.behaviour.fail_second_chunk_once
            && start >= 10_000_000
            && !hub.failed_once.swap(true, Ordering::SeqCst)
        {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let etag = if hub.behaviour.wrong_etag {
        "0".repeat(64)
    } else {
        hub.sha256.clone()
    };
    (
        StatusCode::PARTIAL_CONTENT,
        [
            ("etag", format!("\"{etag}\"")),
            ("x-repo-commit", COMMIT.to_string()),
            ("content-range", format!("bytes {start}-{end}/{SIZE}")),
        ],
        hub.body[start..=end].to_vec(),
    )
        .into_response()
}

/// Starts the stand-in hub; returns its URL and state.
async fn start(behaviour: Behaviour) -> (String, Arc<MockHub>, tokio::task::JoinHandle<()>) {
    let body = body();
    let sha256 = hex::encode(Sha256::digest(&body));
    let hub = Arc::new(MockHub {
        body,
        sha256,
        behaviour,
        failed_once: AtomicBool::new(false),
        ranges: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/api/models/{owner}/{repo}/revision/main", get(info))
        .route("/{owner}/{repo}/resolve/main/{file}", get(resolve))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, hub, task)
}

fn cache(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cocoon-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn the_only_gguf_is_downloaded_whole_then_served_from_the_cache() {
    let (url, hub, server) = start(Behaviour::default()).await;
    let dir = cache("whole");
    let model: HubModel = "owner/repo".parse().unwrap();
    let path = Hub::new(&url, dir.clone()).fetch(&model).await.unwrap();
    assert!(path.ends_with("model.Q4_1.gguf"), "{}", path.display());
    assert!(path.starts_with(&dir));
    assert_eq!(std::fs::read(&path).unwrap(), hub.body);

    server.abort();
    let _ = server.await;
    let named: HubModel = "owner/repo:model.Q4_1.gguf".parse().unwrap();
    let again = Hub::new(&url, dir.clone()).fetch(&named).await.unwrap();
    assert_eq!(again, path, "served from the cache, the hub being gone");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_download_cut_in_the_middle_resumes_where_it_stopped() {
    let (url, hub, _server) = start(Behaviour {
        fail_second_chunk_once: true,
        ..Default::default()
    })
    .await;
    let dir = cache("resume");
    let model: HubModel = "owner/repo:model.Q4_1.gguf".parse().unwrap();
    let first = Hub::new(&url, dir.clone()).fetch(&model).await;
    let e = first.expect_err("the second chunk failed");
    assert!(e.contains("downloading owner/repo:model.Q4_1.gguf"), "{e}");
    let before = hub.ranges.lock().unwrap().len();
    let path = Hub::new(&url, dir.clone()).fetch(&model).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), hub.body);
    let ranges = hub.ranges.lock().unwrap();
    let second_try = &ranges[before..];
    assert!(
        second_try.iter().all(|(start, _)| *start >= 10_000_000),
        "the first 10 MB were not fetched again: {second_try:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_file_that_does_not_match_the_hubs_sha256_is_refused_and_not_kept() {
    let (url, _hub, _server) = start(Behaviour {
        wrong_etag: true,
        ..Default::default()
    })
    .await;
    let dir = cache("sha");
    let model: HubModel = "owner/repo:model.Q4_1.gguf".parse().unwrap();
    let e = Hub::new(&url, dir.clone()).fetch(&model).await.unwrap_err();
    assert!(e.contains("SHA-256"), "{e}");
    let cached = hf_hub::Cache::new(dir.clone())
        .model("owner/repo".into())
        .get("model.Q4_1.gguf");
    assert!(
        cached.is_none_or(|p| !p.exists()),
        "a corrupt file stays out of the cache"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_hub_that_stops_sending_fails_after_the_stall_limit() {
    let (url, _hub, _server) = start(Behaviour {
        stall: true,
        ..Default::default()
    })
    .await;
    let dir = cache("stall");
    let model: HubModel = "owner/repo:model.Q4_1.gguf".parse().unwrap();
    let hub = Hub::new(&url, dir.clone()).with_stall_limit(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(30), hub.fetch(&model))
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(e.contains("nothing received"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    std::fs::remove_dir_all(&dir).ok();
}
