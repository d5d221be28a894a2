use super::*;
use crate::keymanager::{KeyManagerSettings, KeyManagerShared};
use ed25519_dalek::SigningKey;

async fn serve(shared: Arc<KeyManagerShared>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, admin_routes(shared)).await });
    format!("http://{addr}")
}

async fn post(base: &str, path: &str) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn generate_and_remove_keys_over_the_admin_routes() {
    let dir = tempfile::tempdir().unwrap();
    let settings = KeyManagerSettings::new(SigningKey::from_bytes(&[9; 32]), dir.path().into());
    let shared = KeyManagerShared::open(settings).unwrap();
    let base = serve(shared.clone()).await;

    let (status, body) = post(&base, "/request/generatekey?type=5").await;
    assert_eq!(status, 200, "{body}");
    let held = shared.ring.held_keys();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].record.key_type, 5);
    let key = hex::encode(held[0].record.public_key);
    assert!(body.contains(&key), "{body}");

    assert_eq!(post(&base, "/request/generatekey?type=300").await.0, 400);
    assert_eq!(post(&base, "/request/generatekey").await.0, 200);
    assert_eq!(shared.ring.held_keys().len(), 2);

    assert_eq!(post(&base, "/request/removekey?key=zz").await.0, 400);
    assert_eq!(
        post(&base, &format!("/request/removekey?key={key}"))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&base, &format!("/request/removekey?key={key}"))
            .await
            .0,
        404
    );
    assert_eq!(shared.ring.held_keys().len(), 1);

    let stats = shared.json_stats();
    assert_eq!(stats["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(stats["keys"][0]["registration"], "pending");
    assert_eq!(stats["localconfig"]["check_hashes"], true);
}
