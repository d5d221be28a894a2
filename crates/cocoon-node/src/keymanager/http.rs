//! The key manager's HTTP ports: the stats pages (`/stats`, `/jsonstats`, `/metrics`
//! through [`crate::common::stats`]) and the admin controls of the reference (delta §3.2),
//! served behind [`crate::common::admin::admin_router`] (POST only, the admin token):
//!
//! * `POST /request/generatekey?type=<0..255, default 1>` — a new key of that type, stored
//!   and then registered like a rotated one; answers its public key.
//! * `POST /request/removekey?key=<64 hex>` — deletes the key (store first); 404 when we do
//!   not hold it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::ring::RingError;
use super::KeyManagerShared;
use crate::common::stats::{Metric, StatsSource};

/// The operator controls.
pub fn admin_routes(shared: Arc<KeyManagerShared>) -> Router {
    Router::new()
        .route("/request/generatekey", post(generate_key))
        .route("/request/removekey", post(remove_key))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(shared)
}

type Answer = (StatusCode, String);

async fn generate_key(
    State(shared): State<Arc<KeyManagerShared>>,
    Query(args): Query<HashMap<String, String>>,
) -> Answer {
    let key_type = match args.get("type").map(String::as_str) {
        None | Some("") => 1,
        Some(text) => match text.parse::<u8>() {
            Ok(t) => t,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("type must be an integer 0..255, not {text:?}\n"),
                )
            }
        },
    };
    let ring = shared.clone();
    match tokio::task::spawn_blocking(move || ring.ring.generate(key_type)).await {
        Ok(Ok(key)) => (
            StatusCode::OK,
            format!(
                "key generated: {} (type {key_type}, valid until {})\n",
                hex::encode(key.public_key),
                key.valid_until
            ),
        ),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

async fn remove_key(
    State(shared): State<Arc<KeyManagerShared>>,
    Query(args): Query<HashMap<String, String>>,
) -> Answer {
    let text = args.get("key").map(String::as_str).unwrap_or("");
    let key: [u8; 32] = match hex::decode(text).ok().and_then(|b| b.try_into().ok()) {
        Some(k) => k,
        None => {
            return (
                StatusCode::BAD_REQUEST,
                "key must be the 64-hex-digit public key\n".into(),
            )
        }
    };
    let ring = shared.clone();
    match tokio::task::spawn_blocking(move || ring.ring.remove(&key)).await {
        Ok(Ok(())) => (StatusCode::OK, "key removed\n".into()),
        Ok(Err(e @ RingError::NoSuchKey(_))) => (StatusCode::NOT_FOUND, format!("{e}\n")),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

impl StatsSource for KeyManagerShared {
    fn title(&self) -> String {
        "cocoon key manager".into()
    }

    fn json_stats(&self) -> Value {
        let s = &self.settings;
        let keys: Vec<Value> = self
            .ring
            .held_keys()
            .into_iter()
            .map(|k| {
                json!({
                    "public_key": hex::encode(k.record.public_key),
                    "key_type": k.record.key_type,
                    "valid_since_config_version": k.record.valid_since_config_version,
                    "valid_since": k.record.valid_since,
                    "valid_until": k.record.valid_until,
                    "registration": k.registration,
                    "last_registration_error": k.last_error,
                })
            })
            .collect();
        let c = &self.counters;
        json!({
            "status": {
                "actual_image_hash": true,
                "network": s.ledger.as_ref().map(|l| l.network()),
                "registers_keys": self.ring.registers(),
                "tee": s.tee_label,
            },
            "localconfig": {
                "check_hashes": s.check_hashes,
                "public_key": hex::encode(s.machine_key.verifying_key().to_bytes()),
                "image_hash": hex::encode(s.image_hash),
                "owner_address": s.owner_address,
                "root_config_version": self.ring.config_version(),
            },
            "keys": keys,
            "stats": {
                "served": c.served.load(Ordering::Relaxed),
                "refused": c.refused.load(Ordering::Relaxed),
                "unknown_queries": c.unknown.load(Ordering::Relaxed),
                "ring": self.ring.counters(),
            },
        })
    }

    fn metrics(&self) -> Vec<Metric> {
        let c = &self.counters;
        let r = self.ring.counters();
        let held = self.ring.held_keys();
        let pending = held
            .iter()
            .filter(|k| k.registration == super::ring::Registration::Pending)
            .count();
        let count = |v: u64| v as f64;
        vec![
            Metric::gauge(
                "cocoon_keymanager_live_keys",
                "Keys served now",
                self.ring.live_keys().len() as f64,
            ),
            Metric::gauge(
                "cocoon_keymanager_unregistered_keys",
                "Keys whose root registration is still pending",
                pending as f64,
            ),
            Metric::counter(
                "cocoon_keymanager_queries_served_total",
                "Key queries answered with keys",
                count(c.served.load(Ordering::Relaxed)),
            ),
            Metric::counter(
                "cocoon_keymanager_queries_refused_total",
                "Key queries refused (image hash not on the root)",
                count(c.refused.load(Ordering::Relaxed)),
            ),
            Metric::counter(
                "cocoon_keymanager_keys_generated_total",
                "Keys generated",
                count(r.generated),
            ),
            Metric::counter(
                "cocoon_keymanager_registrations_failed_total",
                "Failed root registrations (retried)",
                count(r.registrations_failed),
            ),
        ]
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
