//! End-to-end tests of the client against mock liteservers (in-memory with a paused clock,
//! and one over real TCP on localhost). Nothing here needs the internet.

use std::sync::Arc;
use std::time::Duration;

use cocoon_liteclient::mock::{
    global_config_json, MockAccount, MockBehavior, MockChain, MockLiteServer, MockNetwork,
    MockTransactionSpec,
};
use cocoon_liteclient::tl::MASTERCHAIN;
use cocoon_liteclient::{
    AccountId, AccountStatus, ClientError, ClientOptions, GlobalConfig, LiteClient, LiteServerEntry,
};
use tonlib_core::cell::{ArcCell, CellBuilder};

fn cell_with(value: u32) -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_u32(32, value).expect("store");
    b.build().expect("build").to_arc()
}

fn wallet() -> AccountId {
    AccountId {
        workchain: 0,
        id: [0x11; 32],
    }
}

fn chain(seqno: u32, global_id: i32, tx_count: u64) -> MockChain {
    let transactions = (1..=tx_count)
        .map(|i| MockTransactionSpec {
            lt: i * 10,
            now: 1_700_000_000 + i as u32,
            in_msg: Some(cell_with(i as u32)),
            out_msgs: (0..(i % 3)).map(|k| cell_with(1000 + k as u32)).collect(),
        })
        .collect();
    MockChain {
        mc_seqno: seqno,
        global_id,
        now: 1_700_000_000 + seqno,
        accounts: vec![
            MockAccount {
                address: wallet(),
                balance: 5_000_000_000,
                code: Some(cell_with(0xc0de)),
                data: Some(cell_with(0xda7a)),
                transactions,
            },
            MockAccount {
                address: AccountId {
                    workchain: 0,
                    id: [0x22; 32],
                },
                balance: 7,
                code: None,
                data: None,
                transactions: vec![],
            },
            MockAccount {
                address: AccountId {
                    workchain: MASTERCHAIN,
                    id: [0x33; 32],
                },
                balance: 42,
                code: Some(cell_with(1)),
                data: None,
                transactions: vec![],
            },
        ],
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(3),
        quorum: 2,
        rounds: 2,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
    }
}

/// Servers on an in-memory network, one per chain.
fn network(chains: &[MockChain]) -> (MockNetwork, Vec<MockLiteServer>, Vec<LiteServerEntry>) {
    let net = MockNetwork::default();
    let servers: Vec<MockLiteServer> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| MockLiteServer::new(i as u8 + 1, c).expect("mock chain"))
        .collect();
    let entries = servers
        .iter()
        .enumerate()
        .map(|(i, s)| net.add(i as u8 + 1, s))
        .collect();
    (net, servers, entries)
}

fn client(net: &MockNetwork, entries: &[LiteServerEntry], options: ClientOptions) -> LiteClient {
    let config = GlobalConfig::from_json(&global_config_json(entries)).expect("config");
    LiteClient::with_connector(config, options, Arc::new(net.clone())).expect("client")
}

#[tokio::test(start_paused = true)]
async fn agreed_block_and_proven_account_states() {
    let (net, servers, entries) = network(&[chain(10, 7, 3), chain(10, 7, 3)]);
    let client = client(&net, &entries, options());
    let agreed = client.sync().await.expect("sync");
    assert_eq!(agreed.seqno, 10);
    assert_eq!(client.last_agreed_block(), Some(agreed));
    assert_eq!(
        client.block_utime(&agreed).await.expect("block time"),
        1_700_000_010,
        "gen_utime from the checked header proof"
    );

    let state = client
        .account_state(&wallet())
        .await
        .expect("account state");
    assert_eq!(state.status, AccountStatus::Active);
    assert_eq!(state.balance, 5_000_000_000);
    assert_eq!(state.mc_block, agreed);
    assert_eq!(state.shard_block.workchain, 0);
    assert_eq!(
        state.code.map(|c| c.cell_hash()),
        Some(cell_with(0xc0de).cell_hash())
    );
    assert_eq!(
        state.data.map(|c| c.cell_hash()),
        Some(cell_with(0xda7a).cell_hash())
    );
    assert_eq!(state.last_trans_lt, 30);
    let built = servers[0].push_chain(&chain(10, 7, 3)).expect("build");
    let last_tx = built
        .accounts
        .get(&wallet())
        .and_then(|(_, t)| t.last().cloned())
        .expect("tx");
    assert_eq!(state.last_trans_hash, last_tx.hash);

    let no_code = client
        .account_state(&AccountId {
            workchain: 0,
            id: [0x22; 32],
        })
        .await
        .expect("state");
    assert_eq!(
        (no_code.status, no_code.balance, no_code.last_trans_lt),
        (AccountStatus::Active, 7, 0)
    );
    let master = client
        .account_state(&AccountId {
            workchain: MASTERCHAIN,
            id: [0x33; 32],
        })
        .await
        .expect("state");
    assert_eq!((master.balance, master.shard_block), (42, agreed));
    let missing = client
        .account_state(&AccountId {
            workchain: 0,
            id: [0x99; 32],
        })
        .await
        .expect("state");
    assert_eq!(
        (missing.status, missing.balance),
        (AccountStatus::Nonexistent, 0)
    );
    assert!(missing.account_cell.is_none());
}

#[tokio::test(start_paused = true)]
async fn disagreeing_servers_give_no_quorum() {
    let (net, _servers, entries) = network(&[chain(10, 7, 1), chain(10, 8, 1)]);
    let client = client(&net, &entries, options());
    match client.sync().await {
        Err(ClientError::NoQuorum { quorum: 2, .. }) => {}
        other => panic!("expected no quorum, got {other:?}"),
    }
    assert_eq!(client.last_agreed_block(), None);
    assert!(
        client.account_state(&wallet()).await.is_err(),
        "no trusted block, no account state"
    );
}

#[tokio::test(start_paused = true)]
async fn majority_wins_and_servers_ahead_confirm_older_blocks() {
    // Server 1 is one block ahead of server 2; server 3 is on a fork.
    let (net, servers, entries) = network(&[chain(10, 7, 1), chain(10, 7, 1), chain(10, 9, 1)]);
    servers[0].push_chain(&chain(11, 7, 1)).expect("build");
    let client = client(&net, &entries, options());
    let agreed = client.sync().await.expect("sync");
    assert_eq!(agreed.seqno, 10);
    let honest = servers[1].push_chain(&chain(10, 7, 1)).expect("build");
    assert_eq!(agreed, honest.mc_block);
    // The fork's header for seqno 10 is another block: only an honest header is taken.
    assert_eq!(
        client.block_utime(&agreed).await.expect("time"),
        1_700_000_010
    );
    let mut unknown = agreed;
    unknown.root_hash = [0x5a; 32];
    assert!(
        client.block_utime(&unknown).await.is_err(),
        "nobody proves a block with that root hash"
    );
    // Server 2 catches up: now both report 11, and the agreed block moves forward.
    servers[1].push_chain(&chain(11, 7, 1)).expect("build");
    assert_eq!(client.sync().await.expect("sync").seqno, 11);
    // A quorum naming an older block never moves the agreed block back.
    let (net2, _s, entries2) = network(&[chain(10, 7, 1), chain(10, 7, 1)]);
    let fresh = self::client(&net2, &entries2, options());
    assert_eq!(fresh.sync().await.expect("sync").seqno, 10);
}

#[tokio::test(start_paused = true)]
async fn single_server_is_trusted_alone() {
    let (net, _servers, entries) = network(&[chain(5, 7, 1)]);
    let client = client(&net, &entries, options());
    assert_eq!(client.quorum(), 1);
    assert_eq!(client.sync().await.expect("sync").seqno, 5);
}

#[tokio::test(start_paused = true)]
async fn server_on_another_network_is_refused() {
    let (net, _servers, entries) = network(&[chain(5, 7, 1), chain(5, 7, 1)]);
    let json = global_config_json(&entries).replace(&"Wlpa".repeat(10), &"AAAA".repeat(10));
    let config = GlobalConfig::from_json(&json).expect("config");
    let client = LiteClient::with_connector(config, options(), Arc::new(net)).expect("client");
    let error = client.sync().await.expect_err("other zero state");
    assert!(error.to_string().contains("zero state differs"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn stalled_and_failing_servers_are_rotated_past_in_bounded_time() {
    let (net, servers, entries) = network(&[chain(10, 7, 2), chain(10, 7, 2), chain(10, 7, 2)]);
    let client = client(&net, &entries, options());
    servers[0].set_behavior(MockBehavior::Stall);
    servers[1].set_behavior(MockBehavior::StallHandshake);
    let started = tokio::time::Instant::now();
    // Only one server answers: no quorum, but the call returns after the timeouts.
    assert!(client.sync().await.is_err());
    assert!(
        started.elapsed() <= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    servers[1].set_behavior(MockBehavior::Fail {
        code: 500,
        message: "broken".into(),
    });
    servers[0].set_behavior(MockBehavior::Normal);
    client.sync().await.expect("two servers agree");
    servers[0].set_behavior(MockBehavior::Stall);
    let started = tokio::time::Instant::now();
    for _ in 0..4 {
        let state = client
            .account_state(&wallet())
            .await
            .expect("third server answers");
        assert_eq!(state.balance, 5_000_000_000);
    }
    // At most one query timeout per call (the stalled server is put last once it failed).
    assert!(
        started.elapsed() <= Duration::from_secs(4 * 3),
        "{:?}",
        started.elapsed()
    );
    assert!(servers[2].query_count() >= 4);
}

#[tokio::test(start_paused = true)]
async fn all_servers_failing_gives_up_after_the_configured_rounds() {
    let (net, servers, entries) = network(&[chain(10, 7, 1), chain(10, 7, 1)]);
    let client = client(&net, &entries, options());
    client.sync().await.expect("sync");
    for s in &servers {
        s.set_behavior(MockBehavior::Stall);
    }
    let started = tokio::time::Instant::now();
    match client.account_state(&wallet()).await {
        Err(ClientError::AllServersFailed(errors)) => assert_eq!(errors.len(), 4),
        other => panic!("expected failure, got {other:?}"),
    }
    // 2 rounds x 2 servers x 3 s timeout, plus one 100 ms backoff.
    assert!(
        started.elapsed() <= Duration::from_millis(12_200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn tampered_account_state_fails_its_proof() {
    let (net, servers, entries) = network(&[chain(10, 7, 1), chain(10, 7, 1)]);
    let client = client(&net, &entries, options());
    client.sync().await.expect("sync");
    servers[0].set_behavior(MockBehavior::TamperAccountState);
    servers[1].set_behavior(MockBehavior::TamperAccountState);
    let error = client.account_state(&wallet()).await.expect_err("tampered");
    assert!(
        error.to_string().contains("differs from the proven one"),
        "{error}"
    );
    servers[1].set_behavior(MockBehavior::Normal);
    assert_eq!(
        client
            .account_state(&wallet())
            .await
            .expect("honest server")
            .balance,
        5_000_000_000
    );
}

#[tokio::test(start_paused = true)]
async fn transactions_page_through_the_hash_chain() {
    let (net, _servers, entries) = network(&[chain(10, 7, 20), chain(10, 7, 20)]);
    let client = client(&net, &entries, options());
    let state = client.account_state(&wallet()).await.expect("state");
    let first = client
        .transactions(&wallet(), state.last_trans_lt, state.last_trans_hash, 100)
        .await
        .expect("page 1");
    assert_eq!(first.len(), 16);
    assert_eq!(first.first().map(|t| t.lt), Some(200));
    for pair in first.windows(2) {
        assert_eq!(
            (pair[0].prev_lt, pair[0].prev_hash),
            (pair[1].lt, pair[1].hash)
        );
    }
    let last = first.last().expect("tx");
    let second = client
        .transactions(&wallet(), last.prev_lt, last.prev_hash, 16)
        .await
        .expect("page 2");
    assert_eq!(
        second.iter().map(|t| t.lt).collect::<Vec<_>>(),
        vec![40, 30, 20, 10]
    );
    let oldest = second.last().expect("tx");
    assert_eq!((oldest.prev_lt, oldest.prev_hash), (0, [0; 32]));
    assert_eq!(
        oldest.in_msg.as_ref().map(|c| c.cell_hash()),
        Some(cell_with(1).cell_hash())
    );
    assert_eq!(second[0].out_msgs.len(), 1);
    assert_eq!(
        first[0]
            .out_msgs
            .iter()
            .map(|c| c.cell_hash())
            .collect::<Vec<_>>(),
        vec![cell_with(1000).cell_hash(), cell_with(1001).cell_hash()]
    );
    assert!(client
        .transactions(&wallet(), 0, [0; 32], 16)
        .await
        .expect("none")
        .is_empty());
    // A wrong starting hash is caught by the hash-chain check.
    let error = client
        .transactions(&wallet(), 30, [0xab; 32], 4)
        .await
        .expect_err("bad hash");
    assert!(
        error.to_string().contains("transaction not found")
            || error.to_string().contains("unexpected hash"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn send_message_reaches_a_working_server() {
    let (net, servers, entries) = network(&[chain(10, 7, 1), chain(10, 7, 1)]);
    let client = client(&net, &entries, options());
    servers[0].set_behavior(MockBehavior::Fail {
        code: 500,
        message: "down".into(),
    });
    servers[1].set_behavior(MockBehavior::Normal);
    let message = cocoon_liteclient::boc::serialize_boc(&[cell_with(0xfeed)]).expect("boc");
    assert_eq!(client.send_message(&message).await.expect("sent"), 1);
    assert_eq!(servers[1].sent_messages(), vec![message]);
    assert!(servers[0].sent_messages().is_empty());
    assert!(matches!(
        client.send_message(b"not a boc").await,
        Err(ClientError::Input(_))
    ));
}

#[tokio::test]
async fn works_over_real_tcp() {
    let a = MockLiteServer::new(1, &chain(3, 7, 2)).expect("mock");
    let b = MockLiteServer::new(2, &chain(3, 7, 2)).expect("mock");
    let entries = vec![
        a.serve_tcp().await.expect("listen"),
        b.serve_tcp().await.expect("listen"),
    ];
    let config = GlobalConfig::from_json(&global_config_json(&entries)).expect("config");
    let mut opts = options();
    opts.query_timeout = Duration::from_millis(500);
    let client = LiteClient::new(config, opts).expect("client");
    assert_eq!(client.sync().await.expect("sync").seqno, 3);
    let state = client.account_state(&wallet()).await.expect("state");
    assert_eq!(state.last_trans_lt, 20);
    let txs = client
        .transactions(&wallet(), state.last_trans_lt, state.last_trans_hash, 16)
        .await
        .expect("txs");
    assert_eq!(txs.len(), 2);
    a.set_behavior(MockBehavior::Stall);
    b.set_behavior(MockBehavior::Normal);
    let message = cocoon_liteclient::boc::serialize_boc(&[cell_with(7)]).expect("boc");
    assert_eq!(client.send_message(&message).await.expect("sent"), 1);
    assert_eq!(a.sent_messages().len() + b.sent_messages().len(), 1);
}
