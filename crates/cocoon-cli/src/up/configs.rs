//! The files `cocoon up` generates: a fake-TON root config and the
//! reference-format configs of the proxy, the workers and the client.

use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use rand::RngCore;
use serde_json::json;

use super::procs::free_port;
use super::UpArgs;

/// Ports and identities of one local network.
pub struct Layout {
    pub engine_port: u16,
    pub engine_url: Option<String>,
    pub proxy_worker_port: u16,
    pub proxy_client_port: u16,
    pub proxy_http_port: u16,
    pub worker_http_ports: Vec<u16>,
    pub client_port: u16,
    model: String,
    max_active_requests: u32,
}

impl Layout {
    pub fn new(args: &UpArgs, client_port: u16) -> anyhow::Result<Self> {
        let mut ports = Vec::new();
        for _ in 0..(4 + args.workers) {
            ports.push(unique_free_port(&ports, client_port)?);
        }
        Ok(Layout {
            engine_port: ports[0],
            engine_url: args.backend.clone(),
            proxy_worker_port: ports[1],
            proxy_client_port: ports[2],
            proxy_http_port: ports[3],
            worker_http_ports: ports[4..].to_vec(),
            client_port,
            model: args.model.clone(),
            max_active_requests: args.max_active_requests,
        })
    }

    /// Writes `root.json`, `proxy.json`, `workerN.json`, `client.json` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let root = json!({
            "@type": "rootConfig.pseudo",
            "registered_proxies": [{
                "seqno": 1,
                "address": format!("127.0.0.1:{} 127.0.0.1:{}", self.proxy_worker_port, self.proxy_client_port),
            }],
            "model_types": [self.model],
            "price_per_token": 2,
            "worker_fee_per_token": 1,
            "last_proxy_seqno": 1,
            "version": 3,
            "params_version": 1,
            "root_owner_address": ton_address(),
        });
        write_json(dir, "root.json", &root)?;
        let proxy = json!({
            "@type": "proxyRunner.config",
            "is_test": true,
            "workers_rpc_port": self.proxy_worker_port,
            "client_rpc_port": self.proxy_client_port,
            "http_port": self.proxy_http_port,
            "owner_address": ton_address(),
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
        for (i, port) in self.worker_http_ports.iter().enumerate() {
            let worker = json!({
                "@type": "workerRunner.config",
                "is_test": true,
                "http_port": port,
                "owner_address": ton_address(),
                "proxy_connections": 1,
                "model_name": self.model,
                "coefficient": 1000,
                "node_wallet_key": random_b64(),
                "forward_requests_to": forward,
                "check_proxy_hashes": false,
                "max_active_requests": self.max_active_requests,
            });
            write_json(dir, &format!("worker{}.json", i + 1), &worker)?;
        }
        let client = json!({
            "@type": "clientRunner.config",
            "is_test": true,
            "http_port": self.client_port,
            "owner_address": ton_address(),
            "proxy_connections": 1,
            "node_wallet_key": random_b64(),
            "check_proxy_hashes": false,
            "secret_string": "",
        });
        write_json(dir, "client.json", &client)
    }
}

fn unique_free_port(taken: &[u16], client_port: u16) -> anyhow::Result<u16> {
    for _ in 0..50 {
        let p = free_port()?;
        if p != client_port && !taken.contains(&p) {
            return Ok(p);
        }
    }
    anyhow::bail!("could not find enough free loopback ports")
}

fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> anyhow::Result<()> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(v)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

fn random_b64() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A random user-friendly TON address (non-bounceable, basechain): tag, workchain,
/// 32-byte account id, CRC16-XMODEM, base64url.
pub fn ton_address() -> String {
    let mut raw = [0u8; 36];
    raw[0] = 0x51;
    raw[1] = 0x00;
    rand::thread_rng().fill_bytes(&mut raw[2..34]);
    let crc = crc16_xmodem(&raw[..34]);
    raw[34..].copy_from_slice(&crc.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE.encode(raw)
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_xmodem_check_value() {
        // The standard check value of CRC-16/XMODEM over "123456789".
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
    }

    #[test]
    fn ton_address_shape() {
        let a = ton_address();
        assert_eq!(a.len(), 48);
        assert!(a.starts_with("UQ"));
    }
}
