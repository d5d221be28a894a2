//! The **devnet** side of `cocoon up`: the ledger file `<dir>/devnet.json` (a local
//! simulation of the COCOON contracts; nothing touches TON), the funded wallets, the
//! summary printed once the network is ready, and the lines printed whenever money moves
//! (read from the ledger file, polled every second).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::devnet::{DevnetLedger, DevnetSnapshot};
use cocoon_ledger::root_config::RootConfig;

use super::configs::Layout;

/// What `cocoon up` mints into the client owner's wallet.
pub const CLIENT_FUNDS: NanoTon = 100 * ONE_TON;

/// The devnet ledger of one `cocoon up` run.
pub struct UpDevnet {
    path: PathBuf,
    price: u64,
    fee: u64,
    /// Labels of the wallets we know (raw address → "client", "proxy", "worker1", …).
    labels: BTreeMap<String, String>,
}

fn raw(address: &str) -> anyhow::Result<String> {
    Ok(parse_address(address)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .address
        .to_hex())
}

fn fmt_ton(nano: NanoTon) -> String {
    format!("{}.{:09} TON", nano / ONE_TON, nano % ONE_TON)
}

impl UpDevnet {
    /// Creates `<dir>/devnet.json` (replacing an older one) with `config`, and funds the
    /// client wallet ([`CLIENT_FUNDS`]) and the proxy wallet (twice the minimum stake).
    pub fn create(dir: &Path, layout: &Layout, config: RootConfig) -> anyhow::Result<UpDevnet> {
        let path = dir.join("devnet.json");
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the old {}", path.display()))?;
        }
        let (price, fee) = (
            config.params.price_per_token,
            config.params.worker_fee_per_token,
        );
        let proxy_funds = 2 * config.params.min_proxy_stake;
        let ledger = DevnetLedger::open_or_create(&path, config)
            .with_context(|| format!("creating the devnet ledger {}", path.display()))?;
        let mut labels = BTreeMap::new();
        labels.insert(raw(&layout.client_owner)?, "client".to_string());
        labels.insert(raw(&layout.proxy_owner)?, "proxy".to_string());
        for (i, owner) in layout.worker_owners.iter().enumerate() {
            labels.insert(raw(owner)?, format!("worker{}", i + 1));
        }
        for (owner, amount) in [
            (&layout.client_owner, CLIENT_FUNDS),
            (&layout.proxy_owner, proxy_funds),
        ] {
            let address = parse_address(owner)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .address;
            ledger
                .devnet_fund(&address, amount)
                .context("funding a devnet wallet")?;
        }
        Ok(UpDevnet {
            path,
            price,
            fee,
            labels,
        })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh read of the ledger file.
    pub fn snapshot(&self) -> anyhow::Result<DevnetSnapshot> {
        let ledger = DevnetLedger::open_or_create(&self.path, RootConfig::devnet_default())
            .with_context(|| format!("reading the devnet ledger {}", self.path.display()))?;
        Ok(ledger.devnet_snapshot())
    }

    fn label(&self, raw: &str) -> String {
        self.labels
            .get(raw)
            .cloned()
            .unwrap_or_else(|| raw.to_string())
    }

    /// The summary printed once the network is ready.
    pub fn summary(&self) -> anyhow::Result<Vec<String>> {
        let s = self.snapshot()?;
        let mut out = vec![format!(
            "devnet: payments settle on the DEVNET ledger {} (a local simulation of the COCOON contracts; nothing touches TON)",
            self.path.display()
        )];
        out.push(format!(
            "devnet: price {} nanoTON per token for the client, worker fee {}, proxy commission {}",
            self.price,
            self.fee,
            self.price.saturating_sub(self.fee)
        ));
        for (address, balance) in &s.wallets {
            out.push(format!(
                "devnet:   {:<8} wallet  {address}  {}",
                self.label(address),
                fmt_ton(*balance)
            ));
        }
        for (address, p) in &s.proxies {
            out.push(format!(
                "devnet:   proxy    contract {address}  stake {}",
                fmt_ton(p.stake)
            ));
        }
        for (address, c) in &s.clients {
            out.push(format!(
                "devnet:   client   contract {address}  balance {}, stake {}",
                fmt_ton(c.balance),
                fmt_ton(c.stake)
            ));
        }
        for (address, w) in &s.workers {
            out.push(format!(
                "devnet:   {:<8} contract {address}",
                self.label(&w.owner)
            ));
        }
        out.push(format!(
            "devnet: inspect with `cocoon devnet status --ledger {}` (add --json for every field)",
            self.path.display()
        ));
        Ok(out)
    }

    /// One line per money movement between two snapshots.
    pub fn moves(&self, before: &DevnetSnapshot, after: &DevnetSnapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (address, c) in &after.clients {
            let old = before.clients.get(address);
            let tokens = c.tokens_used - old.map_or(0, |o| o.tokens_used.min(c.tokens_used));
            let (old_balance, old_stake) = old.map_or((0, 0), |o| (o.balance, o.stake));
            if tokens > 0 {
                let charged = NanoTon::from(tokens) * NanoTon::from(self.price);
                out.push(format!(
                    "devnet: client contract balance fell by {charged} nanoTON = {tokens} tokens × price {} (now {})",
                    self.price,
                    fmt_ton(c.balance)
                ));
            }
            let added = (c.balance + c.stake + NanoTon::from(tokens) * NanoTon::from(self.price))
                .saturating_sub(old_balance + old_stake);
            if added > 0 && old.is_some() {
                out.push(format!(
                    "devnet: client contract topped up by {} from the client wallet",
                    fmt_ton(added)
                ));
            }
        }
        for (address, w) in &after.workers {
            let paid_before = before.workers.get(address).map_or(0, |o| o.tokens);
            let tokens = w.tokens.saturating_sub(paid_before);
            if tokens > 0 {
                let amount = NanoTon::from(tokens) * NanoTon::from(self.fee);
                let wallet = after.wallets.get(&w.owner).copied().unwrap_or(0);
                out.push(format!(
                    "devnet: {} wallet rose by {amount} nanoTON = {tokens} tokens × worker fee {} (now {wallet} nanoTON)",
                    self.label(&w.owner),
                    self.fee
                ));
            }
        }
        for (address, p) in &after.proxies {
            // Commission held in the contract plus what was paid out to the owner's wallet.
            let wallet = |s: &DevnetSnapshot| s.wallets.get(&p.owner).copied().unwrap_or(0);
            let old = before.proxies.get(address).map_or(0, |o| o.commission) + wallet(before);
            let earned = (p.commission + wallet(after)).saturating_sub(old);
            let tokens = self.price.saturating_sub(self.fee);
            if earned > 0 && tokens > 0 {
                out.push(format!(
                    "devnet: proxy commission rose by {earned} nanoTON = {} tokens × (price {} − fee {}) (held {}, proxy wallet {} nanoTON)",
                    earned / NanoTon::from(tokens),
                    self.price,
                    self.fee,
                    p.commission,
                    wallet(after)
                ));
            }
        }
        out
    }

    /// Polls until the client was charged and the workers paid at least `tokens` more than
    /// in `before`, or `timeout` passes; returns the last snapshot and whether it settled.
    pub fn wait_settled(
        &self,
        before: &DevnetSnapshot,
        tokens: u64,
        timeout: Duration,
    ) -> anyhow::Result<(DevnetSnapshot, bool)> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.snapshot()?;
            let charged = sum_tokens(now.clients.values().map(|c| c.tokens_used))
                - sum_tokens(before.clients.values().map(|c| c.tokens_used));
            let paid = sum_tokens(now.workers.values().map(|w| w.tokens))
                - sum_tokens(before.workers.values().map(|w| w.tokens));
            let settled = charged >= i128::from(tokens) && paid >= i128::from(tokens);
            if settled || Instant::now() >= deadline {
                return Ok((now, settled));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Prints [`Self::moves`] every second until `stop` is set.
    pub fn watch(self: Arc<Self>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut last = self.snapshot().ok();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let Ok(now) = self.snapshot() else {
                    continue;
                };
                if let Some(before) = &last {
                    for line in self.moves(before, &now) {
                        say!("{line}");
                    }
                }
                last = Some(now);
            }
        })
    }
}

fn sum_tokens(values: impl Iterator<Item = u64>) -> i128 {
    values.map(i128::from).sum()
}
