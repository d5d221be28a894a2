//! **Mock liteservers over a test chain** (feature `mock`; tests only): a [`ServedChain`] —
//! the contract-SIMULATING [`MockChain`], or the real contract code run by
//! [`crate::sandbox::SandboxChain`] — served through `cocoon-liteclient`'s mock liteservers,
//! so a test drives `TonLedger → LiteChain → ADNL/lite_api → mock liteservers → chain`.
//!
//! [`MockLiteBridge::pump`] does one step of the bridge:
//! 1. every external message a liteserver received since the last pump is handed to
//!    [`MockChain`]'s `send_external` (refusals — a resent message whose seqno already
//!    moved, a bad signature — are reported, as a real network drops them);
//! 2. when the simulated chain changed, its accounts are rebuilt as liteserver chain data
//!    (balance, code, data, every transaction with its inbound message re-encoded as a
//!    TL-B `Message` cell: internal with sender and value, or external-in) and pushed to
//!    every server as the next masterchain block.
//!
//! Accounts served: the chain's own list ([`ServedChain::served_accounts`]: for the mock
//! chain the root and every wallet and contract the devnet engine knows), and those named
//! with [`MockLiteBridge::serve_also`]. Transaction hashes are the liteserver mock's
//! (real cell hashes of simulated transactions), not `MockChain`'s own ids.
//!
//! With [`MockLiteBridge::follow_wall_clock`] the simulated chain's clock is moved to the
//! local clock before each pump, so a node whose `LiteChain` uses the local clock (the
//! default) agrees with the simulated contracts on the time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cocoon_liteclient::mock::{
    MockAccount, MockChain as MockBlocks, MockLiteServer, MockNetwork, MockTransactionSpec,
};
use cocoon_liteclient::LiteServerEntry;
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::TonAddress;

use crate::cells::{finish, store_addr, store_coins, CellError};
use crate::chain::{ChainAccess, ChainTx};
use crate::lite_chain::account_id;
use crate::messages::external_message_cell;
use crate::mock_chain::MockChain;

/// The `global_id` of the served blocks.
const GLOBAL_ID: i32 = -239;

/// What one [`MockLiteBridge::pump`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PumpReport {
    /// External messages the simulated chain accepted.
    pub delivered: usize,
    /// Why the others were refused.
    pub refused: Vec<String>,
    /// The masterchain seqno pushed to the servers, when the chain changed.
    pub pushed: Option<u32>,
}

struct BridgeState {
    mc_seqno: u32,
    consumed: Vec<usize>,
    /// (simulated block seqno, extra accounts) of the last push.
    last_pushed: Option<(u32, usize)>,
}

/// A chain the bridge can serve: the contract-simulating [`MockChain`], or the real code in
/// the sandbox ([`crate::sandbox::SandboxChain`]).
pub trait ServedChain: ChainAccess {
    /// Every account to serve (the root first).
    fn served_accounts(&self) -> Result<Vec<TonAddress>, String>;
    /// Every transaction of `address`, oldest first.
    fn transactions_of(&self, address: &TonAddress) -> Vec<ChainTx>;
    /// The chain clock (unix seconds).
    fn clock(&self) -> u64;
    /// Moves the chain clock forward to `now`.
    fn move_clock_to(&self, now: u64) -> Result<(), String>;
}

impl ServedChain for MockChain {
    fn served_accounts(&self) -> Result<Vec<TonAddress>, String> {
        let snapshot = self.engine().try_devnet_snapshot().map_err(err)?;
        let mut addresses = vec![self.root_address()];
        let known = snapshot
            .wallets
            .keys()
            .chain(snapshot.proxies.keys())
            .chain(snapshot.clients.keys())
            .chain(snapshot.workers.keys());
        for key in known {
            let address = TonAddress::from_hex_str(key).map_err(err)?;
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        Ok(addresses)
    }

    fn transactions_of(&self, address: &TonAddress) -> Vec<ChainTx> {
        MockChain::transactions_of(self, address)
    }

    fn clock(&self) -> u64 {
        cocoon_ledger::ledger::Ledger::now(self.engine())
    }

    fn move_clock_to(&self, now: u64) -> Result<(), String> {
        let chain_now = self.clock();
        if now > chain_now {
            self.advance_clock(now - chain_now).map_err(err)?;
        }
        Ok(())
    }
}

/// The bridge (see the module doc).
pub struct MockLiteBridge<C: ServedChain = MockChain> {
    chain: Arc<C>,
    servers: Vec<MockLiteServer>,
    follow_wall_clock: bool,
    state: tokio::sync::Mutex<BridgeState>,
    extra: Mutex<Vec<TonAddress>>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl<C: ServedChain + 'static> MockLiteBridge<C> {
    /// `servers` mock liteservers (ADNL keys from seeds 1, 2, …) serving `chain`.
    pub async fn new(chain: Arc<C>, servers: u8) -> Result<MockLiteBridge<C>, String> {
        let first = build_blocks(&*chain, 1, &[]).await?;
        let servers = (1..=servers.max(1))
            .map(|seed| MockLiteServer::new(seed, &first))
            .collect::<Result<Vec<_>, _>>()?;
        let count = servers.len();
        Ok(MockLiteBridge {
            chain,
            servers,
            follow_wall_clock: false,
            state: tokio::sync::Mutex::new(BridgeState {
                mc_seqno: 1,
                consumed: vec![0; count],
                last_pushed: None,
            }),
            extra: Mutex::new(Vec::new()),
        })
    }

    /// Moves the simulated clock to the local clock before every pump.
    pub fn follow_wall_clock(mut self) -> MockLiteBridge<C> {
        self.follow_wall_clock = true;
        self
    }

    /// The simulated chain.
    pub fn chain(&self) -> &Arc<C> {
        &self.chain
    }

    /// The mock liteservers.
    pub fn servers(&self) -> &[MockLiteServer] {
        &self.servers
    }

    /// Also serve `address` (e.g. an account only ever sent to).
    pub fn serve_also(&self, address: &TonAddress) {
        let mut extra = self.extra.lock().unwrap_or_else(|p| p.into_inner());
        if !extra.contains(address) {
            extra.push(address.clone());
        }
    }

    /// The servers on an in-memory network (works with a paused tokio clock).
    pub fn network(&self) -> (MockNetwork, Vec<LiteServerEntry>) {
        let network = MockNetwork::default();
        let entries = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| network.add(u8::try_from(i + 1).unwrap_or(u8::MAX), s))
            .collect();
        (network, entries)
    }

    /// Listens on loopback TCP (one port per server); returns their config entries.
    pub async fn serve_tcp(&self) -> std::io::Result<Vec<LiteServerEntry>> {
        let mut entries = Vec::with_capacity(self.servers.len());
        for server in &self.servers {
            entries.push(server.serve_tcp().await?);
        }
        Ok(entries)
    }

    /// One bridge step (see the module doc).
    pub async fn pump(&self) -> Result<PumpReport, String> {
        let mut st = self.state.lock().await;
        let mut report = PumpReport::default();
        for (index, server) in self.servers.iter().enumerate() {
            let sent = server.sent_messages();
            let from = st.consumed.get(index).copied().unwrap_or(0);
            for boc in sent.iter().skip(from) {
                match self.chain.send_external(boc).await {
                    Ok(()) => report.delivered += 1,
                    Err(e) => report.refused.push(e.to_string()),
                }
            }
            if let Some(consumed) = st.consumed.get_mut(index) {
                *consumed = sent.len();
            }
        }
        if self.follow_wall_clock {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if now > self.chain.clock() {
                self.chain.move_clock_to(now)?;
            }
        }
        let extra = self.extra.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let version = (
            self.chain.last_block().await.map_err(err)?.seqno,
            extra.len(),
        );
        if st.last_pushed != Some(version) {
            st.mc_seqno += 1;
            let blocks = build_blocks(&*self.chain, st.mc_seqno, &extra).await?;
            for server in &self.servers {
                server.push_chain(&blocks)?;
            }
            st.last_pushed = Some(version);
            report.pushed = Some(st.mc_seqno);
        }
        Ok(report)
    }

    /// Pumps every `every` until the returned task is aborted; errors are logged.
    pub fn spawn_pump(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let bridge = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match bridge.pump().await {
                    Ok(report) if !report.refused.is_empty() => {
                        tracing::debug!(refused = ?report.refused, "mock bridge: messages refused")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "mock bridge: pump failed"),
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

/// Every account the simulated chain knows, as liteserver mock chain data at `mc_seqno`.
async fn build_blocks<C: ServedChain>(
    chain: &C,
    mc_seqno: u32,
    extra: &[TonAddress],
) -> Result<MockBlocks, String> {
    let mut addresses = chain.served_accounts()?;
    for address in extra {
        if !addresses.contains(address) {
            addresses.push(address.clone());
        }
    }
    let mut accounts = Vec::with_capacity(addresses.len());
    for address in addresses {
        let state = chain.account(&address).await.map_err(err)?;
        let txs = chain.transactions_of(&address);
        let Some(state) = state else {
            continue;
        };
        let transactions = txs
            .iter()
            .map(|tx| transaction_spec(&address, tx))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        accounts.push(MockAccount {
            address: account_id(&address),
            balance: state.balance,
            code: state.code,
            data: state.data,
            transactions,
        });
    }
    let now = u32::try_from(chain.clock()).map_err(err)?;
    Ok(MockBlocks {
        mc_seqno,
        global_id: GLOBAL_ID,
        now,
        accounts,
    })
}

fn transaction_spec(account: &TonAddress, tx: &ChainTx) -> Result<MockTransactionSpec, CellError> {
    let in_msg = match &tx.in_msg {
        None => None,
        Some(msg) => Some(match &msg.source {
            None => Arc::new(external_message_cell(account, None, &msg.body)?),
            Some(source) => internal_in_msg(source, account, msg.value, tx, &msg.body)?,
        }),
    };
    Ok(MockTransactionSpec {
        lt: tx.id.lt,
        now: u32::try_from(tx.utime).unwrap_or(u32::MAX),
        in_msg,
        out_msgs: Vec::new(),
    })
}

/// `int_msg_info$0 ihr_disabled bounce bounced src dest value … | init: 0 | body: 1 ^body`.
fn internal_in_msg(
    source: &TonAddress,
    dest: &TonAddress,
    value: u128,
    tx: &ChainTx,
    body: &ArcCell,
) -> Result<ArcCell, CellError> {
    let mut b = CellBuilder::new();
    b.store_u8(4, 0b0110)?;
    store_addr(&mut b, source)?;
    store_addr(&mut b, dest)?;
    store_coins(&mut b, value)?;
    b.store_bit(false)?; // no extra currencies
    store_coins(&mut b, 0)?; // ihr_fee
    store_coins(&mut b, 0)?; // fwd_fee
    b.store_u64(64, tx.id.lt.saturating_sub(1))?;
    b.store_u32(32, u32::try_from(tx.utime).unwrap_or(u32::MAX))?;
    b.store_bit(false)?; // no StateInit
    b.store_bit(true)?;
    b.store_reference(body)?;
    Ok(Arc::new(finish(b)?))
}
