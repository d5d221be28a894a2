//! `LiteChain` (the production `ChainAccess`) against `cocoon-liteclient`'s mock
//! liteservers: account states, transaction pages with decoded inbound messages, sending,
//! re-syncing a stale block, and the error kinds. In memory, nothing needs the internet.

use std::sync::Arc;
use std::time::Duration;

use cocoon_liteclient::mock::{
    global_config_json, MockAccount, MockBehavior, MockChain as MockBlocks, MockLiteServer,
    MockNetwork, MockTransactionSpec,
};
use cocoon_liteclient::{ClientOptions, GlobalConfig, LiteClient};
use cocoon_ton::cells::{store_addr, store_coins};
use cocoon_ton::chain::{ChainAccess, ChainError, TxId};
use cocoon_ton::lite_chain::{account_id, parse_in_msg, LiteChain};
use cocoon_ton::messages::external_message_cell;
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::{TonAddress, TonHash};

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

fn body(value: u32) -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_u32(32, value).expect("bits");
    Arc::new(b.build().expect("cell"))
}

fn internal(from: &TonAddress, to: &TonAddress, value: u128, payload: &ArcCell) -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_u8(4, 0b0110).expect("flags");
    store_addr(&mut b, from).expect("src");
    store_addr(&mut b, to).expect("dest");
    store_coins(&mut b, value).expect("value");
    b.store_bit(false).expect("extra");
    store_coins(&mut b, 0).expect("ihr");
    store_coins(&mut b, 0).expect("fwd");
    b.store_u64(64, 0).expect("lt");
    b.store_u32(32, 0).expect("at");
    b.store_bit(false).expect("init");
    b.store_bit(true).expect("body ref");
    b.store_reference(payload).expect("body");
    Arc::new(b.build().expect("message"))
}

/// Account `addr(1)` with `txs` transactions: odd ones internal from `addr(9)` carrying
/// `i` nanoTON, even ones external; account `addr(2)` exists without transactions.
fn blocks(seqno: u32, txs: u64, balance: u128) -> MockBlocks {
    let me = addr(1);
    let transactions = (1..=txs)
        .map(|i| {
            let payload = body(i as u32);
            let in_msg = if i % 2 == 1 {
                internal(&addr(9), &me, u128::from(i), &payload)
            } else {
                Arc::new(external_message_cell(&me, None, &payload).expect("ext"))
            };
            MockTransactionSpec {
                lt: 100 + i * 10,
                now: 1_800_000_000 + i as u32,
                in_msg: Some(in_msg),
                out_msgs: Vec::new(),
            }
        })
        .collect();
    MockBlocks {
        mc_seqno: seqno,
        global_id: 7,
        now: 1_800_000_900 + seqno,
        accounts: vec![
            MockAccount {
                address: account_id(&me),
                balance,
                code: Some(body(0xc0de)),
                data: Some(body(0xda7a)),
                transactions,
            },
            MockAccount {
                address: account_id(&addr(2)),
                balance: 5,
                code: None,
                data: None,
                transactions: Vec::new(),
            },
        ],
    }
}

fn servers(n: u8, chain: &MockBlocks) -> (Vec<MockLiteServer>, MockNetwork, GlobalConfig) {
    let network = MockNetwork::default();
    let servers: Vec<_> = (1..=n)
        .map(|seed| MockLiteServer::new(seed, chain).expect("server"))
        .collect();
    let entries: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| network.add(i as u8 + 1, s))
        .collect();
    let config = GlobalConfig::from_json(&global_config_json(&entries)).expect("config");
    (servers, network, config)
}

fn lite_chain(network: &MockNetwork, config: &GlobalConfig) -> LiteChain {
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(1),
        query_timeout: Duration::from_secs(2),
        rounds: 1,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        ..ClientOptions::default()
    };
    let client = LiteClient::with_connector(config.clone(), options, Arc::new(network.clone()))
        .expect("client");
    LiteChain::new(Arc::new(client))
}

#[tokio::test]
async fn account_states_and_the_block() {
    let chain = blocks(5, 3, 1234);
    let (_servers, network, config) = servers(2, &chain);
    let lite = lite_chain(&network, &config).with_clock(|| 42);
    let block = lite.last_block().await.expect("block");
    assert_eq!(block.seqno, 5);
    assert_eq!(
        block.utime, 1_800_000_905,
        "the block's gen_utime from its header proof, not the fallback clock"
    );

    let me = lite
        .account(&addr(1))
        .await
        .expect("account")
        .expect("exists");
    assert_eq!(me.balance, 1234);
    assert_eq!(me.code.as_deref(), Some(&*body(0xc0de)));
    assert_eq!(me.data.as_deref(), Some(&*body(0xda7a)));
    assert_eq!(me.last_tx.map(|t| t.lt), Some(130));

    let plain = lite
        .account(&addr(2))
        .await
        .expect("account")
        .expect("exists");
    assert_eq!((plain.balance, plain.last_tx), (5, None));
    assert_eq!(lite.account(&addr(3)).await.expect("account"), None);
}

#[tokio::test]
async fn transactions_are_paged_linked_and_decoded() {
    let chain = blocks(5, 40, 1);
    let (_servers, network, config) = servers(2, &chain);
    let lite = lite_chain(&network, &config);
    let newest = lite
        .account(&addr(1))
        .await
        .expect("account")
        .and_then(|a| a.last_tx)
        .expect("last tx");
    let txs = lite
        .transactions(&addr(1), newest, 35)
        .await
        .expect("transactions");
    assert_eq!(txs.len(), 35, "three pages of at most 16");
    assert_eq!(txs[0].id, newest);
    for pair in txs.windows(2) {
        assert_eq!(pair[0].prev, Some(pair[1].id), "prev links the page");
    }
    let lts: Vec<u64> = txs.iter().map(|t| t.id.lt).collect();
    let expected: Vec<u64> = (6..=40).rev().map(|i| 100 + i * 10).collect();
    assert_eq!(lts, expected);
    // i = 40 (external), i = 39 (internal from addr(9) with 39 nanoTON).
    let ext = txs[0].in_msg.as_ref().expect("in_msg");
    assert_eq!((ext.source.clone(), ext.value), (None, 0));
    assert_eq!(*ext.body, *body(40));
    assert_eq!(txs[0].utime, 1_800_000_040);
    let int = txs[1].in_msg.as_ref().expect("in_msg");
    assert_eq!((int.source.clone(), int.value), (Some(addr(9)), 39));
    assert_eq!(*int.body, *body(39));

    // The walk ends at the first transaction, whatever the limit.
    let oldest = txs.last().and_then(|t| t.prev).expect("more");
    let rest = lite
        .transactions(&addr(1), oldest, 100)
        .await
        .expect("rest");
    assert_eq!(rest.len(), 5);
    assert_eq!(rest.last().map(|t| t.prev), Some(None));

    // An unknown transaction is an error, not an empty page.
    let unknown = TxId {
        lt: newest.lt,
        hash: [9; 32],
    };
    assert!(lite.transactions(&addr(1), unknown, 5).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_stale_block_is_synced_again_before_a_read() {
    let (servers, network, config) = servers(2, &blocks(5, 1, 10));
    let lite = lite_chain(&network, &config).with_max_block_age(Duration::from_secs(3));
    assert_eq!(lite.last_block().await.expect("block").seqno, 5);
    for s in &servers {
        s.push_chain(&blocks(6, 2, 20)).expect("push");
    }
    // Within the age the agreed block is reused.
    let balance = lite
        .account(&addr(1))
        .await
        .expect("read")
        .map(|a| a.balance);
    assert_eq!(balance, Some(10));
    tokio::time::advance(Duration::from_secs(4)).await;
    let balance = lite
        .account(&addr(1))
        .await
        .expect("read")
        .map(|a| a.balance);
    assert_eq!(balance, Some(20));
    assert_eq!(lite.last_block().await.expect("block").seqno, 6);
}

#[tokio::test]
async fn external_messages_reach_a_liteserver() {
    let (servers, network, config) = servers(2, &blocks(5, 1, 10));
    let lite = lite_chain(&network, &config);
    let msg = external_message_cell(&addr(1), None, &body(77)).expect("message");
    let boc = cocoon_ledger::boc::serialize(msg).expect("boc");
    lite.send_external(&boc).await.expect("sent");
    let received: Vec<Vec<u8>> = servers.iter().flat_map(|s| s.sent_messages()).collect();
    assert_eq!(received, vec![boc]);
    // Not a BoC: refused before anything is sent.
    assert!(matches!(
        lite.send_external(b"junk").await,
        Err(ChainError::Rejected(_))
    ));
}

#[tokio::test]
async fn error_kinds() {
    let (servers, network, config) = servers(2, &blocks(5, 1, 10));
    let lite = lite_chain(&network, &config);
    lite.last_block().await.expect("agreed");
    for s in &servers {
        s.set_behavior(MockBehavior::Fail {
            code: 400,
            message: "external message refused".into(),
        });
    }
    let boc =
        cocoon_ledger::boc::serialize(external_message_cell(&addr(1), None, &body(1)).expect("m"))
            .expect("boc");
    assert!(matches!(
        lite.send_external(&boc).await,
        Err(ChainError::Rejected(_))
    ));
    for s in &servers {
        s.set_behavior(MockBehavior::TamperAccountState);
    }
    assert!(matches!(
        lite.account(&addr(1)).await,
        Err(ChainError::Malformed(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn unreachable_liteservers_are_unavailable() {
    let (servers, network, config) = servers(2, &blocks(5, 1, 10));
    for s in &servers {
        s.set_behavior(MockBehavior::StallHandshake);
    }
    let lite = lite_chain(&network, &config);
    assert!(matches!(
        lite.last_block().await,
        Err(ChainError::Unavailable(_))
    ));
}

#[test]
fn undecodable_inbound_messages_are_errors() {
    let mut b = CellBuilder::new();
    b.store_u8(2, 0b01).expect("bits");
    let junk = Arc::new(b.build().expect("cell"));
    assert!(parse_in_msg(&junk).is_err());
    assert!(parse_in_msg(&Arc::new(tonlib_core::cell::Cell::default())).is_err());
}
