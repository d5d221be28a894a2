//! A SCRIPTED key manager for tests: it accepts RA-TLS links as a fake-TEE peer (PoW
//! difficulty 0, our `fake` gate) and answers `keyManager.getProxyPrivateKeys` /
//! `getWorkerPrivateKeys` with whatever keys the test gave it. It is not the key-manager
//! role: no key generation, no storage, no access control.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cocoon_e2e::Seed;
use cocoon_net::{establish, InboundMessage, SessionConfig};
use cocoon_node::common::dial::{dial_proxy, DialConfig, TeeMode};
use cocoon_node::common::km_client::{
    FixedKeyManager, KeyManagerSettings, KeyManagerSource, KeyManagerTarget, KeyRequest,
};
use cocoon_node::proxy::listener::PortGate;
use cocoon_node::proxy::{build_gate, GateOptions};
use cocoon_wire::schema::{functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A running scripted key manager. Dropping it (or [`ScriptedKeyManager::stop`]) closes its
/// port and every link to it.
pub struct ScriptedKeyManager {
    pub addr: SocketAddrV4,
    keys: Arc<Mutex<Vec<types::key_manager::PrivateKey>>>,
    answered: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for ScriptedKeyManager {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A key manager key: `seed` valid until `valid_until` (unix seconds).
pub fn km_key(seed: &Seed, valid_until: i64) -> types::key_manager::PrivateKey {
    types::key_manager::PrivateKey {
        valid_until_utime: i32::try_from(valid_until).expect("expiry fits the wire"),
        private_key: *seed.as_bytes(),
    }
}

/// Unix time now, seconds.
pub fn now() -> i64 {
    cocoon_node::common::km_client::unix_now()
}

impl ScriptedKeyManager {
    /// Starts one on an ephemeral loopback port, serving `keys`.
    pub async fn start(keys: Vec<types::key_manager::PrivateKey>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = match listener.local_addr().expect("local addr") {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("not IPv4: {other}"),
        };
        let gate = build_gate(&GateOptions {
            tee: TeeMode::Fake,
            worker_policy: "fake".into(),
            client_policy: "any".into(),
            pow_difficulty: 0,
        })
        .expect("gate")
        .0;
        let PortGate::Attested(link) = gate.workers else {
            panic!("an in-process gate is attested");
        };
        let keys = Arc::new(Mutex::new(keys));
        let answered = Arc::new(AtomicUsize::new(0));
        let (k, a) = (keys.clone(), answered.clone());
        let task = tokio::spawn(async move {
            let mut links = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (link, keys, answered) = (link.clone(), k.clone(), a.clone());
                links.spawn(async move {
                    let Ok((tls, _peer)) = cocoon_tee::link::accept(tcp, &link).await else {
                        return;
                    };
                    let Ok((_session, mut inbound)) =
                        establish(tls, SessionConfig::acceptor()).await
                    else {
                        return;
                    };
                    while let Some(msg) = inbound.next().await {
                        let InboundMessage::Query(q) = msg else {
                            continue;
                        };
                        let asks =
                            from_bytes::<functions::key_manager::GetProxyPrivateKeys>(&q.data)
                                .is_ok()
                                || from_bytes::<functions::key_manager::GetWorkerPrivateKeys>(
                                    &q.data,
                                )
                                .is_ok();
                        if asks {
                            let keys = keys.lock().expect("keys").clone();
                            answered.fetch_add(1, Ordering::SeqCst);
                            let _ = q
                                .answer(to_bytes(&types::key_manager::PrivateKeys { keys }))
                                .await;
                        } else {
                            let _ = q.error(601, "unknown query magic").await;
                        }
                    }
                });
            }
        });
        ScriptedKeyManager {
            addr,
            keys,
            answered,
            task,
        }
    }

    /// Replaces the keys served from now on.
    pub fn set_keys(&self, keys: Vec<types::key_manager::PrivateKey>) {
        *self.keys.lock().expect("keys") = keys;
    }

    /// Key queries answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Closes the port and every link (the key manager goes away).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Its image hash as a fake-TEE dialer sees it.
    pub async fn image_hash(&self) -> [u8; 32] {
        let cfg = DialConfig::new(TeeMode::Fake, "fake", None).expect("dial config");
        let (session, _inbound, peer) = dial_proxy(&self.addr.to_string(), &cfg)
            .await
            .expect("dial the key manager");
        session.close();
        peer.image_hash
    }

    /// Where it is, with `image_hash` as the root's `key_manager_image_hash`.
    pub fn target(&self, image_hash: [u8; 32]) -> KeyManagerTarget {
        KeyManagerTarget {
            address: self.addr,
            image_hash,
        }
    }
}

/// Key-manager settings of a test proxy: fake TEE, `fake` policy, polls every 50–100 ms.
pub fn km_settings(
    source: Arc<dyn KeyManagerSource>,
    check_image_hash: bool,
) -> KeyManagerSettings {
    KeyManagerSettings {
        source,
        dial: DialConfig::new(TeeMode::Fake, "fake", None).expect("dial config"),
        poll_interval: (Duration::from_millis(50), Duration::from_millis(100)),
        query_timeout: Duration::from_secs(5),
        check_image_hash,
        request: KeyRequest::Proxy,
    }
}

/// [`km_settings`] for a key manager that stays where it is.
pub fn fixed_km(target: KeyManagerTarget) -> KeyManagerSettings {
    km_settings(Arc::new(FixedKeyManager(Some(target))), false)
}
