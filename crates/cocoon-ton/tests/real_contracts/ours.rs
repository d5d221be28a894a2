//! Our side: `TonLedger`s over the contract-simulating `MockChain` (which runs the devnet
//! engine), with the parameters of [`super::world::params`] where the mock takes them.

use std::sync::Arc;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::ledger::{Ledger, LedgerError};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ton::chain::ChainAccess;
use cocoon_ton::mock_chain::MockChain;
use cocoon_ton::ton_ledger::{TonLedger, TonLedgerConfig};
use ed25519_dalek::SigningKey;
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::TonAddress;

use super::world::{addr, params};

fn wallet_code() -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_slice(b"cocoon-rs test wallet code (not executable)")
        .expect("bits");
    Arc::new(b.build().expect("cell"))
}

/// The mock chain with the real worlds' prices, delays and stakes (the mock's own params
/// struct version).
pub fn chain() -> Arc<MockChain> {
    let mut config = RootConfig::devnet_default();
    let p = params();
    config.params.price_per_token = p.price_per_token;
    config.params.worker_fee_per_token = p.worker_fee_per_token;
    config.params.proxy_delay_before_close = p.proxy_delay_before_close;
    config.params.client_delay_before_close = p.client_delay_before_close;
    config.params.min_proxy_stake = p.min_proxy_stake;
    config.params.min_client_stake = p.min_client_stake;
    Arc::new(MockChain::new(config).expect("mock chain"))
}

/// The proxy's signing key of the ledger with wallet key `seed`.
pub fn proxy_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed.wrapping_add(100); 32])
}

/// A ledger with wallet key `seed` (owner `addr(seed)`), funded with `funds`.
pub fn ledger(chain: &Arc<MockChain>, seed: u8, funds: NanoTon) -> TonLedger {
    let dyn_chain: Arc<dyn ChainAccess> = chain.clone();
    let mut config = TonLedgerConfig::new(
        chain.root_address(),
        true,
        wallet_code(),
        SigningKey::from_bytes(&[seed; 32]),
        addr(seed),
    );
    config.proxy_signing_key = Some(proxy_key(seed));
    let ledger = TonLedger::new(dyn_chain, config).expect("ledger");
    chain.fund(ledger.wallet_address(), funds).expect("fund");
    ledger
}

/// Runs `rounds` refresh rounds on every ledger.
pub async fn settle(ledgers: &[&TonLedger], rounds: usize) {
    for _ in 0..rounds {
        for l in ledgers {
            l.refresh_now().await.expect("refresh");
        }
    }
}

/// Retries an operation that fails with "not synced yet" after one refresh round.
pub async fn after_sync<T>(
    ledger: &TonLedger,
    mut op: impl FnMut() -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    match op() {
        Err(LedgerError::Storage(e)) if e.contains("not synced") => {
            ledger.refresh_now().await.expect("refresh");
            op()
        }
        other => other,
    }
}

/// The start of most scenarios on our side: a proxy node (seed 1, 100 TON) whose contract is
/// deployed with a 2 TON stake, and a second node (`seed`, `funds`), refreshed `rounds` rounds
/// after the deploy.
pub struct WithProxy {
    pub chain: Arc<MockChain>,
    pub proxy: TonLedger,
    pub party: TonLedger,
    pub psc: TonAddress,
}

pub async fn with_deployed_proxy(seed: u8, funds: NanoTon, rounds: usize) -> WithProxy {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let party = ledger(&chain, seed, funds);
    settle(&[&proxy, &party], 1).await;
    let psc = proxy
        .proxy_deploy(
            proxy.wallet_address(),
            &proxy_key(1).verifying_key(),
            2 * ONE_TON,
        )
        .expect("proxy deploy");
    settle(&[&proxy, &party], rounds).await;
    WithProxy {
        chain,
        proxy,
        party,
        psc,
    }
}

/// Deploys the client contract of `client`'s wallet at the proxy contract `psc` (once more after
/// a refresh if the ledger had not synced yet), then refreshes twice.
pub async fn deploy_client(client: &TonLedger, psc: &TonAddress) -> TonAddress {
    let me = client.wallet_address().clone();
    let csc = after_sync(client, || client.client_deploy(&me, psc))
        .await
        .expect("client deploy");
    settle(&[client], 2).await;
    csc
}

/// [`deploy_client`], then a top-up of `amount` from the wallet, then two refresh rounds of
/// `refresh` (the ledgers that must see it).
pub async fn funded_client(
    client: &TonLedger,
    psc: &TonAddress,
    amount: NanoTon,
    refresh: &[&TonLedger],
) -> TonAddress {
    let csc = deploy_client(client, psc).await;
    client
        .client_top_up(client.wallet_address(), &csc, amount)
        .expect("top up");
    settle(refresh, 2).await;
    csc
}
