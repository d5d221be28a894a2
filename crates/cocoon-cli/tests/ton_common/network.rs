//! A whole COCOON network on the simulated TON, as `ton_network.rs` and `ton_bump_params.rs`
//! need it: the root registers one proxy, the mock liteservers serve the contract-SIMULATING
//! chain, every party's wallet is funded, a fake engine answers, and `cocoon proxy`, `cocoon
//! worker` and `cocoon client` processes run on the TON backend with thresholds of 1 nanoTON
//! (every served token moves money at once) and a 0.3 s ledger refresh.

use std::time::{Duration, Instant};

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::root_config::{RegisteredProxy, RootConfig};
use cocoon_node::fake_engine::{serve_fake_engine, FakeEngineOptions};
use serde_json::json;

use std::sync::Arc;

use cocoon_ton::mock_chain::MockChain;

use super::{
    b64, free_port, logs_of, node_config, wait_until, MockTon, Node, Party, Scratch, TestChain,
};

/// The model the worker serves.
pub const MODEL: &str = "Qwen/Qwen3-8B";
/// The client config's `http_access_hash`: the credential of its admin port.
pub const CLIENT_ACCESS_HASH: &str = "ton-test-client-admin";

/// The running network. Field order is drop order: processes first, the scratch directory
/// last.
pub struct TonNetwork<C: TestChain = MockChain> {
    pub proxy_node: Node,
    pub worker_node: Node,
    pub client_node: Node,
    pub engine_task: tokio::task::JoinHandle<()>,
    pub ton: MockTon<C>,
    pub proxy: Party,
    pub worker: Party,
    pub client: Party,
    pub proxy_http: u16,
    pub client_http: u16,
    /// The client's admin port (money controls, [`CLIENT_ACCESS_HASH`]).
    pub client_admin: u16,
    /// The root config the chain started with.
    pub root: RootConfig,
    pub started: Instant,
    pub deadline: Instant,
    /// How long the proxy took to sync, deploy its contract and commit.
    pub proxy_ready: Duration,
    pub scratch: Scratch,
}

/// The node flags every role shares on TON.
fn ton_flags<'a, C: TestChain>(ton: &'a MockTon<C>, config: &'a str) -> Vec<&'a str> {
    vec![
        "--config",
        config,
        "--wallet-code",
        &ton.wallet_code_file,
        "--ton-refresh-interval",
        "0.3",
        "--ton-sync-timeout",
        "30",
    ]
}

impl TonNetwork<MockChain> {
    /// Starts the simulated chain and the three processes (`name` names the scratch
    /// directory; `tweak` adjusts the root config, e.g. its close delays); returns once the
    /// proxy is ready (the worker and client are started, not waited for).
    pub async fn start(
        name: &str,
        budget: Duration,
        tweak: impl FnOnce(&mut RootConfig),
    ) -> TonNetwork {
        TonNetwork::start_on(name, budget, tweak, |root| {
            Arc::new(MockChain::new(root.clone()).expect("mock chain"))
        })
        .await
    }
}

impl<C: TestChain> TonNetwork<C> {
    /// As [`TonNetwork::start`], on the chain `make_chain` builds for the root config.
    pub async fn start_on(
        name: &str,
        budget: Duration,
        tweak: impl FnOnce(&mut RootConfig),
        make_chain: impl FnOnce(&RootConfig) -> Arc<C>,
    ) -> TonNetwork<C> {
        // reqwest's TLS stack wants a process-wide provider, even for plain HTTP.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let started = Instant::now();
        let deadline = started + budget;
        let scratch = Scratch::new(name);
        let (proxy, worker, client) = (Party::new(0x11), Party::new(0x22), Party::new(0x33));

        // The root contract registers the proxy's ports (workers, clients).
        let (workers_port, clients_port) = (free_port(), free_port());
        let mut root = RootConfig::devnet_default();
        root.registered_proxies = vec![RegisteredProxy {
            seqno: 1,
            worker_address: format!("127.0.0.1:{workers_port}"),
            client_address: format!("127.0.0.1:{clients_port}"),
        }];
        root.last_proxy_seqno = 1;
        tweak(&mut root);
        let ton = MockTon::serve(&scratch, make_chain(&root)).await;
        ton.fund(&ton.wallet_of(&proxy), 20 * ONE_TON);
        ton.fund(&proxy.owner(), 3 * ONE_TON);
        ton.fund(&ton.wallet_of(&worker), 10 * ONE_TON);
        ton.fund(&ton.wallet_of(&client), 20 * ONE_TON);
        ton.pump().await;

        let engine = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("engine port");
        let engine_addr = engine.local_addr().expect("engine addr");
        let options = FakeEngineOptions {
            chunks: 4,
            model: MODEL.to_string(),
            ..FakeEngineOptions::default()
        };
        let engine_task = tokio::spawn(async move {
            let _ = serve_fake_engine(engine, options).await;
        });

        let proxy_http = free_port();
        let proxy_cfg = scratch.write_json(
            "proxy.json",
            &node_config(
                &ton,
                &proxy,
                json!({
                    "@type": "proxyRunner.config", "workers_rpc_port": workers_port,
                    "client_rpc_port": clients_port, "http_port": proxy_http,
                    "machine_specific_private_key": b64(&[77; 32]),
                    "db_path": scratch.path("proxy-db"), "check_worker_hashes": false,
                }),
            ),
        );
        let worker_cfg = scratch.write_json(
            "worker.json",
            &node_config(
                &ton,
                &worker,
                json!({
                    "@type": "workerRunner.config", "http_port": free_port(),
                    "proxy_connections": 1, "model_name": MODEL, "coefficient": 1000,
                    "forward_requests_to": engine_addr.to_string(), "check_proxy_hashes": false,
                    "max_active_requests": 4,
                }),
            ),
        );
        let client_http = free_port();
        let client_admin = free_port();
        let client_cfg = scratch.write_json(
            "client.json",
            &node_config(
                &ton,
                &client,
                json!({
                    "@type": "clientRunner.config", "http_port": client_http,
                    "proxy_connections": 1, "check_proxy_hashes": false, "secret_string": "",
                    "http_access_hash": CLIENT_ACCESS_HASH,
                }),
            ),
        );

        let mut args = vec!["proxy"];
        args.extend(ton_flags(&ton, &proxy_cfg));
        args.extend([
            "--save-state-interval",
            "0.5",
            "--books-flush-interval",
            "0.2",
            "--client-charge-threshold",
            "1",
            "--worker-payout-threshold",
            "1",
            "--commission-payout-threshold",
            "1",
            "--tee",
            "fake",
            "--worker-policy",
            "fake",
            "--client-policy",
            "any",
            "--pow-difficulty",
            "8",
            "--admin-listen",
            "off",
        ]);
        let proxy_node = Node::spawn(&scratch.dir, "proxy", &args);
        wait_until(
            "the proxy to sync, deploy its contract and commit",
            deadline,
            || logs_of(&[&proxy_node], 40),
            || proxy_node.log().contains("proxy ready"),
        )
        .await;
        let proxy_ready = started.elapsed();

        let mut args = vec!["worker"];
        args.extend(ton_flags(&ton, &worker_cfg));
        args.extend([
            "--tee",
            "fake",
            "--proxy-policy",
            "fake",
            "--payout-interval",
            "1",
            "--payout-threshold",
            "1",
            "--payout-idle-threshold",
            "1",
            "--admin-listen",
            "off",
        ]);
        let worker_node = Node::spawn(&scratch.dir, "worker", &args);
        let mut args = vec!["client"];
        args.extend(ton_flags(&ton, &client_cfg));
        let client_admin_addr = format!("127.0.0.1:{client_admin}");
        args.extend([
            "--proxy-policy",
            "fake",
            "--admin-listen",
            &client_admin_addr,
            "--stats-listen",
            "off",
        ]);
        let client_node = Node::spawn(&scratch.dir, "client", &args);
        TonNetwork {
            proxy_node,
            worker_node,
            client_node,
            engine_task,
            ton,
            proxy,
            worker,
            client,
            proxy_http,
            client_http,
            client_admin,
            root,
            started,
            deadline,
            proxy_ready,
            scratch,
        }
    }

    /// The last log lines of every process and the chain's refused messages.
    pub fn logs(&self) -> String {
        format!(
            "{}\n--- failed chain messages: {}",
            logs_of(
                &[&self.proxy_node, &self.worker_node, &self.client_node],
                40
            ),
            self.ton.chain.failures()
        )
    }
}

impl<C: TestChain> TonNetwork<C> {
    /// Waits until the client serves [`MODEL`] with a worker behind it: it reached the proxy
    /// (its contract deployed, keyed and topped up through its wallet) and the worker is
    /// connected.
    pub async fn wait_serving(&self) {
        let client_http = self.client_http;
        let serves_model = || {
            super::json_get(client_http, "/v1/models").is_some_and(|v| {
                v["data"].as_array().is_some_and(|models| {
                    models.iter().any(|m| {
                        m["id"] == MODEL && m["workers"].as_array().is_some_and(|w| !w.is_empty())
                    })
                })
            })
        };
        wait_until(
            "the client to serve the model",
            self.deadline,
            || self.logs(),
            serves_model,
        )
        .await;
    }
}
