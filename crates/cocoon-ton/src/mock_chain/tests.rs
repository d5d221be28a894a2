//! The mock chain's own checks: root cells of every struct version read back by the real
//! parser, and the cocoon wallet checks on external messages (replay, forged signature,
//! unknown wallet, expiry, balance).

use std::sync::Arc;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::Ledger;
use cocoon_ledger::root_config::{RegisteredProxy, RegisteredPublicKey, RootConfig};
use ed25519_dalek::SigningKey;
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::{TonAddress, TonHash};

use super::*;
use crate::chain::ChainError;
use crate::messages::{proxy_save_state_body, OutgoingMessage};
use crate::root_state::parse_root_state;
use crate::wallet::{CocoonWallet, ExternalSend, PollResult, WalletSender};

fn rich_config(sv: u8) -> RootConfig {
    let mut config = RootConfig::devnet_default();
    config.params.struct_version = sv;
    config.version = 40 + u32::from(sv);
    config.proxy_hashes = vec![[0x0a; 32], [0xc0; 32]];
    config.worker_hashes = vec![[0x33; 32]];
    config.model_hashes = vec![[0x11; 32], [0x99; 32]];
    config.registered_proxies = vec![
        RegisteredProxy {
            seqno: 1,
            worker_address: "10.0.0.1:8001".into(),
            client_address: "10.0.0.1:8001".into(),
        },
        RegisteredProxy {
            seqno: 4,
            worker_address: "10.0.0.2:9001".into(),
            client_address: "10.0.0.3:9002".into(),
        },
    ];
    config.last_proxy_seqno = 4;
    if sv >= 4 {
        config.registered_public_keys = vec![RegisteredPublicKey {
            public_key: [0x42; 32],
            key_type: 1,
            expire_at: 2_000_000_000,
        }];
        config.key_manager_address = Some("10.1.1.1:13001".into());
        config.key_manager_public_key = [0x5a; 32];
    }
    config
}

#[test]
fn root_cells_of_every_struct_version_parse_back() {
    let chain = MockChain::new(RootConfig::devnet_default()).expect("chain");
    let owner = TonAddress::new(0, TonHash::from([7; 32]));
    for sv in 0..=5u8 {
        let config = rich_config(sv);
        let cell = root_cell::root_data_cell(&owner, &config, chain.codes()).expect("cell");
        let state = parse_root_state(&cell).expect("parse");
        assert_eq!(state.config, config, "struct version {sv}");
        assert_eq!(state.owner, owner);
        let codes = state.codes.contract_codes().expect("codes");
        assert_eq!(codes.client, chain.codes().client);
    }
    let mut bad = rich_config(5);
    bad.params.struct_version = 6;
    assert!(root_cell::root_data_cell(&owner, &bad, chain.codes()).is_err());
}

fn wallet_code() -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_slice(b"mock test wallet code").expect("bits");
    Arc::new(b.build().expect("cell"))
}

fn sender(seed: u8) -> WalletSender {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let owner = TonAddress::new(0, TonHash::from([seed; 32]));
    let wallet = CocoonWallet::new(wallet_code(), key.verifying_key(), owner).expect("wallet");
    WalletSender::new(wallet, key).expect("sender")
}

fn one_send(sender: &mut WalletSender, seqno: u32, now: u64) -> ExternalSend {
    let body = proxy_save_state_body(1, 1, &[0; 32]).expect("body");
    sender.enqueue(OutgoingMessage {
        dest: TonAddress::new(0, TonHash::from([0xee; 32])),
        value: 1,
        state_init: None,
        body: Some(Arc::new(body)),
    });
    sender.observe_state(seqno, 10 * ONE_TON);
    match sender.poll(now).expect("poll") {
        PollResult::Send(send) => send,
        other => panic!("expected a send, got {other:?}"),
    }
}

#[tokio::test]
async fn external_messages_get_the_wallet_checks() {
    let chain = MockChain::new(RootConfig::devnet_default()).expect("chain");
    let now = chain.engine().now();
    let mut s = sender(1);
    let address = s.wallet().address().clone();
    chain.fund(&address, 10 * ONE_TON).expect("fund");

    let first = one_send(&mut s, 0, now);
    chain.send_external(&first.boc).await.expect("accepted");
    assert_eq!(chain.externals_accepted(), 1);
    // Replay: the seqno moved.
    assert!(matches!(
        chain.send_external(&first.boc).await,
        Err(ChainError::Rejected(e)) if e.contains("seqno")
    ));
    let account = chain
        .account(&address)
        .await
        .expect("read")
        .expect("exists");
    let data = account.data.expect("deployed");
    assert_eq!(crate::wallet::parse_wallet_seqno(&data).expect("seqno"), 1);
    let txs = chain.transactions_of(&address);
    assert_eq!(txs.len(), 1);
    assert!(txs[0].in_msg.as_ref().is_some_and(|m| m.source.is_none()));

    // A forged signature (one flipped bit in the signed body).
    s.observe_transaction(&first.body_hash);
    let second = one_send(&mut s, 1, now);
    let mut forged = second.boc.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(chain.send_external(&forged).await.is_err());
    chain
        .send_external(&second.boc)
        .await
        .expect("genuine one accepted");

    // An unknown wallet without StateInit, and an expired order.
    let mut stranger = sender(2);
    chain
        .fund(stranger.wallet().address(), 10 * ONE_TON)
        .expect("fund");
    let late = one_send(&mut stranger, 1, now);
    assert!(matches!(
        chain.send_external(&late.boc).await,
        Err(ChainError::Rejected(e)) if e.contains("StateInit")
    ));
    let mut old = sender(3);
    chain
        .fund(old.wallet().address(), 10 * ONE_TON)
        .expect("fund");
    let expired = one_send(&mut old, 0, now - 3601);
    assert!(matches!(
        chain.send_external(&expired.boc).await,
        Err(ChainError::Rejected(e)) if e.contains("expired")
    ));
    // Garbage is malformed, not a panic.
    assert!(matches!(
        chain.send_external(&[0xb5, 0xee, 1, 2]).await,
        Err(ChainError::Malformed(_))
    ));
}

#[tokio::test]
async fn a_wallet_cannot_send_more_than_it_holds() {
    let chain = MockChain::new(RootConfig::devnet_default()).expect("chain");
    let s = sender(4);
    let address = s.wallet().address().clone();
    chain.fund(&address, ONE_TON / 2).expect("fund");
    let mut s = s.with_low_balance(0);
    s.enqueue(OutgoingMessage {
        dest: TonAddress::new(0, TonHash::from([0xee; 32])),
        value: ONE_TON,
        state_init: None,
        body: None,
    });
    // The sender is told the wallet holds more than it does.
    s.observe_state(0, 10 * ONE_TON);
    let PollResult::Send(send) = s.poll(chain.engine().now()).expect("poll") else {
        panic!("expected a send");
    };
    assert!(matches!(
        chain.send_external(&send.boc).await,
        Err(ChainError::Rejected(e)) if e.contains("holds")
    ));
}
