//! The files `cocoon up` generates: a fake-TON root config, the
//! reference-format configs of the proxy, the workers and the client, and the
//! root config of the **devnet** ledger.
//!
//! Single source of truth: [`Layout::root_json`] is the root config; the devnet
//! ledger's [`RootConfig`] ([`Layout::devnet_root_config`]) is read back from that
//! same JSON, so prices, versions and proxies always agree; the parameters a
//! pseudo root cannot carry (multipliers, close delays, minimum stakes) are the
//! fixed fake-TON values both sides use (runners.md §6.10).

use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use cocoon_ledger::root_config::{RegisteredProxy, RootConfig};
use cocoon_node::config::LocalRootConfig;
use cocoon_node::keymanager::keys::{AUTO_KEY_TYPE, TEST_KEY_PUBLIC_BASE64, TEST_KEY_VALID_UNTIL};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde_json::json;

use super::procs::free_port;
use super::UpArgs;

/// nanoTON a client pays per adjusted token in the local network.
pub const PRICE_PER_TOKEN: u64 = 2;
/// nanoTON a worker earns per adjusted token in the local network.
pub const WORKER_FEE_PER_TOKEN: u64 = 1;

/// Ports and identities of one local network.
pub struct Layout {
    pub engine_port: u16,
    pub engine_url: Option<String>,
    pub proxy_worker_port: u16,
    pub proxy_client_port: u16,
    pub proxy_http_port: u16,
    pub proxy_admin_port: u16,
    pub worker_http_ports: Vec<u16>,
    pub worker_admin_ports: Vec<u16>,
    pub client_port: u16,
    pub client_stats_port: u16,
    pub client_admin_port: u16,
    /// The key manager's RPC, stats and admin ports.
    pub km_rpc_port: u16,
    pub km_http_port: u16,
    pub km_admin_port: u16,
    /// The key manager's `machine_specific_private_key`: it signs the key registrations, so
    /// the devnet root's `key_manager_public_key` is its public key.
    km_machine_seed: [u8; 32],
    /// `--no-payments`: no ledger to register keys on, so the key manager serves the
    /// reference's fixed test key and `root.json` lists it (the reference's fake TON does so).
    pub no_payments: bool,
    /// Owner (= devnet wallet) addresses, user-friendly.
    pub root_owner: String,
    pub proxy_owner: String,
    pub worker_owners: Vec<String>,
    pub client_owner: String,
    model: String,
    max_active_requests: u32,
    change_model_script: Option<std::path::PathBuf>,
}

impl Layout {
    pub fn new(args: &UpArgs, client_port: u16) -> anyhow::Result<Self> {
        let mut ports = Vec::new();
        for _ in 0..(10 + 2 * args.workers) {
            ports.push(unique_free_port(&ports, client_port)?);
        }
        let workers = &ports[10..];
        let mut km_machine_seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut km_machine_seed);
        Ok(Layout {
            engine_port: ports[0],
            engine_url: args.backend.clone(),
            proxy_worker_port: ports[1],
            proxy_client_port: ports[2],
            proxy_http_port: ports[3],
            proxy_admin_port: ports[4],
            worker_http_ports: workers[..args.workers].to_vec(),
            worker_admin_ports: workers[args.workers..].to_vec(),
            client_port,
            client_stats_port: ports[5],
            client_admin_port: ports[6],
            km_rpc_port: ports[7],
            km_http_port: ports[8],
            km_admin_port: ports[9],
            km_machine_seed,
            no_payments: args.no_payments,
            root_owner: ton_address(),
            proxy_owner: ton_address(),
            worker_owners: (0..args.workers).map(|_| ton_address()).collect(),
            client_owner: ton_address(),
            model: args.model.clone(),
            max_active_requests: args.max_active_requests,
            change_model_script: args
                .change_model_script
                .as_deref()
                .map(|p| {
                    std::fs::canonicalize(p)
                        .with_context(|| format!("--change-model-script {}", p.display()))
                })
                .transpose()?,
        })
    }

    /// The fake-TON root config (`root.json`).
    pub fn root_json(&self) -> serde_json::Value {
        let registered_public_keys = if self.no_payments {
            vec![json!({
                "public_key": TEST_KEY_PUBLIC_BASE64,
                "key_type": AUTO_KEY_TYPE,
                "expire_at": TEST_KEY_VALID_UNTIL,
            })]
        } else {
            Vec::new()
        };
        json!({
            "@type": "rootConfig.pseudo",
            "registered_proxies": [{
                "seqno": 1,
                "address": format!("127.0.0.1:{} 127.0.0.1:{}", self.proxy_worker_port, self.proxy_client_port),
            }],
            "model_types": [self.model],
            "price_per_token": PRICE_PER_TOKEN,
            "worker_fee_per_token": WORKER_FEE_PER_TOKEN,
            "last_proxy_seqno": 1,
            "version": 3,
            "params_version": 1,
            "root_owner_address": self.root_owner,
            "key_manager_address": format!("127.0.0.1:{}", self.km_rpc_port),
            "registered_public_keys": registered_public_keys,
        })
    }

    /// The devnet ledger's root config: what [`Self::root_json`] says, plus the fixed
    /// fake-TON parameters (struct version, multipliers 1.0×, close delays 600/300 s,
    /// minimum stakes 1 TON).
    pub fn devnet_root_config(&self) -> anyhow::Result<RootConfig> {
        let local = LocalRootConfig::from_json_str(&self.root_json().to_string())
            .context("reading back the generated root config")?;
        let mut config = RootConfig::devnet_default();
        let to_u32 = |v: i32, what: &str| {
            u32::try_from(v).with_context(|| format!("negative {what} in the root config"))
        };
        config.version = to_u32(local.version, "version")?;
        config.params.params_version = to_u32(local.params_version, "params_version")?;
        config.params.price_per_token = u64::from(to_u32(local.price_per_token, "price")?);
        config.params.worker_fee_per_token =
            u64::from(to_u32(local.worker_fee_per_token, "worker fee")?);
        config.last_proxy_seqno = to_u32(local.last_proxy_seqno, "last_proxy_seqno")?;
        config.registered_proxies = local
            .registered_proxies
            .iter()
            .map(|p| {
                Ok(RegisteredProxy {
                    seqno: to_u32(p.seqno, "proxy seqno")?,
                    worker_address: p.address_for_workers.to_string(),
                    client_address: p.address_for_clients.to_string(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let mut models: Vec<[u8; 32]> = local.accepted_model_hashes().iter().map(|h| h.0).collect();
        models.sort();
        config.model_hashes = models;
        // The key manager registers its keys on the devnet root, signed by its machine key.
        config.key_manager_address = local.key_manager_address.map(|a| a.to_string());
        config.key_manager_public_key = SigningKey::from_bytes(&self.km_machine_seed)
            .verifying_key()
            .to_bytes();
        Ok(config)
    }

    /// Writes `root.json`, `proxy.json`, `workerN.json`, `client.json` and
    /// `keymanager.json` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        write_json(dir, "root.json", &self.root_json())?;
        let proxy = json!({
            "@type": "proxyRunner.config",
            "is_test": true,
            "workers_rpc_port": self.proxy_worker_port,
            "client_rpc_port": self.proxy_client_port,
            "http_port": self.proxy_http_port,
            "owner_address": self.proxy_owner,
            "machine_specific_private_key": random_b64(),
            "node_wallet_key": random_b64(),
            "db_path": dir.join("proxy-db").to_string_lossy(),
            "check_worker_hashes": false,
        });
        write_json(dir, "proxy.json", &proxy)?;
        let forward = match &self.engine_url {
            Some(url) => url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            None => format!("127.0.0.1:{}", self.engine_port),
        };
        for (i, (port, owner)) in self
            .worker_http_ports
            .iter()
            .zip(&self.worker_owners)
            .enumerate()
        {
            let name = format!("worker{}", i + 1);
            let config = dir.join(format!("{name}.json"));
            let script = match &self.change_model_script {
                Some(script) => script.clone(),
                None => super::model_change::write_simulated_script(
                    dir,
                    &name,
                    &std::env::current_exe().context("cannot find the cocoon executable")?,
                    &config,
                )?,
            };
            let worker = json!({
                "@type": "workerRunner.config",
                "is_test": true,
                "http_port": port,
                "owner_address": owner,
                "proxy_connections": 1,
                "model_name": self.model,
                "coefficient": 1000,
                "node_wallet_key": random_b64(),
                "forward_requests_to": forward,
                "check_proxy_hashes": false,
                "max_active_requests": self.max_active_requests,
                "machine_description_json": machine_description(&forward),
                "change_model_script": script.to_string_lossy(),
            });
            write_json(dir, &format!("{name}.json"), &worker)?;
        }
        let client = json!({
            "@type": "clientRunner.config",
            "is_test": true,
            "http_port": self.client_port,
            "owner_address": self.client_owner,
            "proxy_connections": 1,
            "node_wallet_key": random_b64(),
            "check_proxy_hashes": false,
            "secret_string": "",
        });
        write_json(dir, "client.json", &client)?;
        let key_manager = json!({
            "@type": "keyStorageRunner.config",
            "is_test": true,
            "check_hashes": false,
            "rpc_port": self.km_rpc_port,
            "http_port": self.km_http_port,
            "owner_address": ton_address(),
            "node_wallet_key": random_b64(),
            "machine_specific_private_key": base64::engine::general_purpose::STANDARD
                .encode(self.km_machine_seed),
            "db_path": dir.join("keymanager-db").to_string_lossy(),
        });
        write_json(dir, "keymanager.json", &key_manager)
    }
}

/// A held free port (see `procs::free_port`) other than the client's.
fn unique_free_port(taken: &[u16], client_port: u16) -> anyhow::Result<u16> {
    for _ in 0..50 {
        let p = free_port()?;
        if p != client_port && !taken.contains(&p) {
            return Ok(p);
        }
        if p == client_port {
            // Not ours to hold: the client binds it.
            super::procs::release_ports(&[p]);
        }
    }
    anyhow::bail!("could not find enough free loopback ports")
}

/// Writes `v` to `dir/name`, readable by its owner only: the node configs hold private keys.
fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write as _;
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(v)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(text.as_bytes())
    };
    write().with_context(|| format!("writing {}", path.display()))
}

fn random_b64() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A random user-friendly TON address (the generated owner identities of a local network).
pub fn ton_address() -> String {
    cocoon_ledger::address::random_friendly_address()
}

/// What `cocoon up` says about the machine of its workers (`machine_description_json`):
/// facts it knows, no guesses — a local network with no TEE.
fn machine_description(engine: &str) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    serde_json::json!({
        "launcher": "cocoon up (local network)",
        "tee": "fake",
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cpus": cpus,
        "engine": engine,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        up: UpArgs,
    }

    #[test]
    fn devnet_root_config_says_what_root_json_says() {
        use clap::Parser as _;
        let cli = Cli::parse_from(["up", "--workers", "3", "--model", "m@x"]);
        let layout = Layout::new(&cli.up, 10000).expect("layout");
        let root = layout.root_json();
        let devnet = layout.devnet_root_config().expect("devnet config");
        assert_eq!(
            devnet.params.price_per_token,
            root["price_per_token"].as_u64().expect("price")
        );
        assert_eq!(
            devnet.params.worker_fee_per_token,
            root["worker_fee_per_token"].as_u64().expect("fee")
        );
        assert_eq!(
            u64::from(devnet.version),
            root["version"].as_u64().expect("v")
        );
        assert_eq!(
            u64::from(devnet.params.params_version),
            root["params_version"].as_u64().expect("pv")
        );
        let proxy = &devnet.registered_proxies[0];
        assert_eq!(
            format!("{} {}", proxy.worker_address, proxy.client_address),
            root["registered_proxies"][0]["address"]
                .as_str()
                .expect("address")
        );
        assert_eq!(devnet.model_hashes.len(), 1);
        // The parameters the pseudo root cannot carry are the fake-TON ones the nodes assume.
        let defaults = RootConfig::devnet_default().params;
        assert_eq!(devnet.params, defaults);
        assert_eq!(layout.worker_owners.len(), 3);
    }

    #[test]
    fn ton_address_shape() {
        let a = ton_address();
        assert_eq!(a.len(), 48);
        assert!(a.starts_with("UQ"));
    }
}
