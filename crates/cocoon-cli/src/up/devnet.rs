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
    /// Root `params_version` at creation (the prices above are its).
    params_version: u32,
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
        let (price, fee, params_version) = (
            config.params.price_per_token,
            config.params.worker_fee_per_token,
            config.params.params_version,
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
            params_version,
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
                "devnet:   proxy    contract {address}  holds {}, stake {}",
                fmt_ton(p.funds),
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
            "devnet: inspect with `cocoon devnet status` while this runs, or `cocoon devnet status --ledger {}` (add --json for every field)",
            self.path.display()
        ));
        Ok(out)
    }

    /// Price and worker fee of the contracts deployed under `params_version`: the initial
    /// ones for the initial params, the root's current ones otherwise (`cocoon devnet
    /// bump-params` changes them; a contract of an intermediate params_version is shown
    /// at the current prices).
    fn prices_of(&self, params_version: u32, current: (u64, u64)) -> (u64, u64) {
        if params_version == self.params_version || params_version == 0 {
            (self.price, self.fee)
        } else {
            current
        }
    }

    /// The root's current price and worker fee (the initial ones if unreadable).
    fn current_prices(&self) -> (u64, u64) {
        use cocoon_ledger::ledger::Ledger;
        DevnetLedger::open_or_create(&self.path, RootConfig::devnet_default())
            .and_then(|l| l.root_config())
            .map_or((self.price, self.fee), |c| {
                (c.params.price_per_token, c.params.worker_fee_per_token)
            })
    }

    /// One line per money movement (and contract lifecycle change) between two snapshots.
    pub fn moves(&self, before: &DevnetSnapshot, after: &DevnetSnapshot) -> Vec<String> {
        use cocoon_ledger::ledger::ContractStatus;
        let mut out = Vec::new();
        let current = self.current_prices();
        if after.params_version != before.params_version {
            out.push(format!(
                "devnet: root params_version raised to {} (price {}, worker fee {}): contracts of older params are being closed",
                after.params_version, current.0, current.1
            ));
        }
        // A client contract's balance is a figure (the money is in the proxy contract) with
        // the stake inside it; a charge only lowers it (contracts.md §3.1.8).
        for (address, c) in &after.clients {
            let (price, _) = self.prices_of(c.params_version, current);
            let old = before.clients.get(address);
            let tokens = c.tokens_used - old.map_or(0, |o| o.tokens_used.min(c.tokens_used));
            let old_balance = old.map_or(0, |o| o.balance);
            let cost = NanoTon::from(tokens) * NanoTon::from(price);
            // A charge beyond the balance takes all of it and forgives the rest (as the
            // contract does); a top-up in the same interval is not told apart.
            let charged = if c.balance == 0 {
                cost.min(old_balance)
            } else {
                cost
            };
            if tokens > 0 {
                if charged == cost {
                    out.push(format!(
                        "devnet: client contract balance fell by {charged} nanoTON = {tokens} tokens × price {price} (now {})",
                        fmt_ton(c.balance)
                    ));
                } else {
                    out.push(format!(
                        "devnet: client contract balance fell by {charged} nanoTON, all it had: {tokens} tokens × price {price} = {cost}, {} forgiven (now {})",
                        cost - charged,
                        fmt_ton(c.balance)
                    ));
                }
            }
            let owner_rose = |s: &DevnetSnapshot| s.wallets.get(&c.owner).copied().unwrap_or(0);
            let refunded = owner_rose(after).saturating_sub(owner_rose(before));
            match old.map(|o| o.status) {
                Some(was) if was != c.status && c.status == ContractStatus::Closed => {
                    out.push(format!(
                        "devnet: client contract {address} closed; its proxy contract paid {} to the client wallet (a forced refund is capped by the proxy's stake)",
                        fmt_ton(refunded)
                    ));
                    continue;
                }
                // The first refund request returns the money above the stake at once; the
                // rest after a second request past the unlock time.
                Some(was) if was != c.status => {
                    out.push(format!(
                        "devnet: client contract {address} is closing; {} above the stake returned to the client wallet, the rest ({}) after ledger time {}",
                        fmt_ton(refunded),
                        fmt_ton(c.balance),
                        c.unlock_ts
                    ));
                }
                _ => {}
            }
            let added = (c.balance + charged).saturating_sub(old_balance);
            if added > 0 && old.is_some() {
                out.push(format!(
                    "devnet: client contract topped up by {} from the client wallet (held by the proxy contract)",
                    fmt_ton(added)
                ));
            }
        }
        for (address, w) in &after.workers {
            let (_, fee) = self.prices_of(w.params_version, current);
            let old = before.workers.get(address);
            let paid_before = old.map_or(0, |o| o.tokens);
            let tokens = w.tokens.saturating_sub(paid_before);
            if tokens > 0 {
                let amount = NanoTon::from(tokens) * NanoTon::from(fee);
                let wallet = after.wallets.get(&w.owner).copied().unwrap_or(0);
                let wallet_before = before.wallets.get(&w.owner).copied().unwrap_or(0);
                if wallet.saturating_sub(wallet_before) >= amount {
                    out.push(format!(
                        "devnet: {} wallet rose by {amount} nanoTON = {tokens} tokens × worker fee {fee} (now {wallet} nanoTON)",
                        self.label(&w.owner),
                    ));
                } else {
                    // The proxy contract could not pay: the voucher is used up anyway.
                    out.push(format!(
                        "devnet: {} contract counted {tokens} tokens but its proxy contract could not pay {amount} nanoTON; the voucher is used up (wallet now {wallet} nanoTON)",
                        self.label(&w.owner),
                    ));
                }
            }
            if old.is_some_and(|o| o.status != w.status) && w.status == ContractStatus::Closed {
                out.push(format!(
                    "devnet: {} contract {address} paid its last payout and closed",
                    self.label(&w.owner)
                ));
            }
        }
        for (address, p) in &after.proxies {
            // Commission is booked when a worker payout arrives: the worker's tokens ×
            // (price − fee) (contracts.md §3.3.1).
            // Withdrawn at once with a low threshold: what the owner's wallet received counts too.
            let old_commission = before.proxies.get(address).map_or(0, |o| o.commission);
            let wallet = after.wallets.get(&p.owner).copied().unwrap_or(0);
            let wallet_before = before.wallets.get(&p.owner).copied().unwrap_or(0);
            let withdrawn = wallet.saturating_sub(wallet_before);
            let booked = (p.commission + withdrawn).saturating_sub(old_commission);
            if booked > 0 && p.status == ContractStatus::Active {
                let (price, fee) = self.prices_of(p.params_version, current);
                out.push(format!(
                    "devnet: proxy commission of {booked} nanoTON booked when the worker payout arrived = worker tokens × (price {price} − fee {fee}); {withdrawn} withdrawn to the proxy wallet, {} still held",
                    p.commission
                ));
            }
            let was = before.proxies.get(address).map(|o| o.status);
            if was.is_some_and(|was| was != p.status) {
                let wallet = after.wallets.get(&p.owner).copied().unwrap_or(0);
                out.push(match p.status {
                    ContractStatus::Closed => format!(
                        "devnet: proxy contract {address} closed; everything it held (stake, commission, unrefunded client money) paid to the proxy wallet (now {})",
                        fmt_ton(wallet)
                    ),
                    _ => format!(
                        "devnet: proxy contract {address} is closing (completes after ledger time {})",
                        p.unlock_ts
                    ),
                });
            } else if was.is_none() && !before.proxies.is_empty() {
                out.push(format!(
                    "devnet: proxy contract {address} deployed (params_version {}, stake {})",
                    p.params_version,
                    fmt_ton(p.stake)
                ));
            }
        }
        out
    }

    /// Waits for the charge and payout of `tokens` since `before` ([`Self::wait_settled`]),
    /// prints the money moves, and fails when they did not all show within `timeout`.
    pub fn show_settled(
        &self,
        before: &DevnetSnapshot,
        tokens: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let (after, settled) = self.wait_settled(before, tokens, timeout)?;
        for line in self.moves(before, &after) {
            say!("{line}");
        }
        anyhow::ensure!(
            settled,
            "the devnet did not show the charge and payout of {tokens} tokens within {} s",
            timeout.as_secs()
        );
        Ok(())
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
            let stopped = || stop.load(Ordering::Relaxed);
            while !stopped() {
                // A second in short naps, so `up` stops promptly on Ctrl-C.
                let nap_started = std::time::Instant::now();
                while !stopped() && nap_started.elapsed() < Duration::from_secs(1) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if stopped() {
                    break;
                }
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
