//! Interop with reference routers: a worker/client dialing through a SOCKS5
//! router that hands over a peer-info record (a fake reference router, in
//! this file), and a proxy behind a router (`--behind-router`) taking peers
//! from the records at the start of plain-TCP connections.

mod proxy_common;

use std::net::SocketAddr;
use std::path::PathBuf;

use cocoon_net::{establish, InboundMessage, SessionConfig};
use cocoon_node::common::dial::{dial_proxy, DialConfig, DialError, TeeMode};
use cocoon_node::common::policy::{PolicyBuilder, PolicyOptions};
use cocoon_node::proxy::gate::{admit_from_router, build_router_gate, RouterAdmitError};
use cocoon_node::proxy::{self, GateOptions, ProxyListeners};
use cocoon_tee::peer_info::{
    AttestedPeerInfo, Endpoint, PeerInfoError, PeerReport, RecordVersion, TdxReport,
};
use cocoon_tee::policy::expected_report_data;
use cocoon_tee::TeeKind;
use proxy_common::{settings, within, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Image hash of the reference's measurement test pattern (tee.md §4.5).
const PATTERN_IMAGE_HASH: &str = "36caf4e8958afa865b8ccc68f1c6f40bc7bddb11150bf437f6fed58b1ca26000";
const PEER_KEY: [u8; 32] = [0x42; 32];

/// A TDX peer with the reference's test-pattern measurements, as a router
/// with a DCAP-verifying policy would describe it.
fn tdx_record(source: Endpoint, destination: Endpoint) -> AttestedPeerInfo {
    AttestedPeerInfo {
        version: RecordVersion::V2,
        report: PeerReport::Tdx(TdxReport {
            mr_td: [0x12; 48],
            mr_config_id: [0x34; 48],
            mr_owner: [0xaa; 48],
            mr_owner_config: [0xbb; 48],
            rtmr: [[b'a'; 48], [b'b'; 48], [b'c'; 48], [b'd'; 48]],
            report_data: expected_report_data(&PEER_KEY),
            collateral_root_hash: [0x46; 48],
        }),
        public_key: PEER_KEY,
        source,
        destination,
    }
}

/// What the fake router writes after its SOCKS5 reply.
#[derive(Clone)]
enum RouterSends {
    /// The framed record for the destination it connected to.
    Record(fn(Endpoint, Endpoint) -> AttestedPeerInfo),
    /// Raw bytes instead of a record.
    Raw(Vec<u8>),
}

/// A fake reference router's SOCKS5 port (`router -S PORT@POLICY
/// --serialize-info`), for one connection: SOCKS5 greeting and IPv4 CONNECT,
/// plain TCP to the target (standing in for its PoW + RA-TLS), the record to
/// the local client, then a byte copy both ways.
async fn fake_router(sends: RouterSends) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind router");
    let addr = listener.local_addr().expect("router addr");
    tokio::spawn(async move {
        let (mut local, local_addr) = listener.accept().await.expect("router accept");
        let mut greeting = [0u8; 3];
        local.read_exact(&mut greeting).await.expect("greeting");
        assert_eq!(greeting, [5, 1, 0], "no-auth greeting");
        local.write_all(&[5, 0]).await.expect("method");
        let mut request = [0u8; 10];
        local
            .read_exact(&mut request)
            .await
            .expect("connect request");
        assert_eq!(request[..4], [5, 1, 0, 1], "IPv4 CONNECT");
        let ip = std::net::Ipv4Addr::new(request[4], request[5], request[6], request[7]);
        let target = SocketAddr::from((ip, u16::from_be_bytes([request[8], request[9]])));
        let mut remote = TcpStream::connect(target).await.expect("router to target");
        let bound = remote.local_addr().expect("bound");
        let mut reply = vec![5, 0, 0, 1, 127, 0, 0, 1];
        reply.extend(bound.port().to_be_bytes());
        local.write_all(&reply).await.expect("reply");
        let bytes = match sends {
            RouterSends::Record(make) => make(Endpoint::from(local_addr), Endpoint::from(target))
                .encode_framed()
                .expect("record encodes"),
            RouterSends::Raw(bytes) => bytes,
        };
        local.write_all(&bytes).await.expect("record");
        let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
    });
    addr
}

/// An in-process session peer on plain TCP: accepts one connection, runs the
/// acceptor init and answers one query with its data reversed.
async fn session_peer() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind peer");
    let addr = listener.local_addr().expect("peer addr");
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("peer accept");
        let (_session, mut inbound) = establish(tcp, SessionConfig::acceptor())
            .await
            .expect("acceptor init");
        if let Some(InboundMessage::Query(mut query)) = inbound.next().await {
            let mut data = query.take_data();
            data.reverse();
            let _ = query.answer(data).await;
        }
    });
    addr
}

/// A policy file defining `pinned`: a TDX policy allowing one image hash.
fn policy_file(test: &str, image_hash: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "cocoon-router-interop-{}-{test}.json",
        std::process::id()
    ));
    let json = format!(
        r#"{{"policies":[{{"name":"pinned","type":"tee","ratls_policy":{{"tdx_config":{{"allowed_image_hashes":["{image_hash}"]}}}}}}]}}"#
    );
    std::fs::write(&path, json).expect("write policy file");
    path
}

fn dial_config(test: &str, image_hash: &str, via: SocketAddr) -> DialConfig {
    let path = policy_file(test, image_hash);
    let options = PolicyOptions {
        policy_file: Some(path.clone()),
        sev_pki: None,
        sev_pki_cache: None,
        ..PolicyOptions::default()
    };
    let policy = PolicyBuilder::new(&options)
        .and_then(|b| b.build("pinned"))
        .expect("pinned policy");
    let _ = std::fs::remove_file(path);
    DialConfig::with_policy(TeeMode::None, policy, Some(via.to_string())).expect("dial config")
}

#[tokio::test]
async fn dial_via_router_reaches_the_peer_with_the_records_identity() {
    let peer = session_peer().await;
    let router = fake_router(RouterSends::Record(tdx_record)).await;
    let cfg = dial_config("ok", PATTERN_IMAGE_HASH, router);
    let (session, _inbound, identity) =
        within("dial via router", dial_proxy(&peer.to_string(), &cfg))
            .await
            .expect("dial via router");
    assert_eq!(identity.tee, TeeKind::Tdx);
    assert_eq!(hex::encode(identity.image_hash), PATTERN_IMAGE_HASH);
    assert_eq!(identity.public_key, PEER_KEY);
    assert_eq!(identity.root_key_id, Some([0x46; 48]));
    let answer = within(
        "query through the router",
        session.query(b"abc".to_vec(), WAIT),
    )
    .await
    .expect("answered");
    assert_eq!(answer, b"cba");
}

#[tokio::test]
async fn dial_via_router_refuses_a_proxy_outside_the_allowlist() {
    let peer = session_peer().await;
    let router = fake_router(RouterSends::Record(tdx_record)).await;
    let cfg = dial_config("refused", &"ab".repeat(32), router);
    let err = within("dial via router", dial_proxy(&peer.to_string(), &cfg))
        .await
        .expect_err("image hash not allowed");
    assert!(matches!(err, DialError::Router { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("image hash not in policy allowlist"),
        "{err}"
    );
}

#[tokio::test]
async fn dial_via_router_fails_clearly_on_an_oversize_record() {
    let peer = session_peer().await;
    let router = fake_router(RouterSends::Raw(100_000u32.to_le_bytes().to_vec())).await;
    let cfg = dial_config("oversize", PATTERN_IMAGE_HASH, router);
    let err = within("dial via router", dial_proxy(&peer.to_string(), &cfg))
        .await
        .expect_err("oversize record");
    assert!(matches!(err, DialError::Router { .. }), "{err}");
    assert!(
        err.to_string().contains("100000 bytes, at most 16536"),
        "{err}"
    );
}

#[tokio::test]
async fn admit_from_router_takes_the_peer_and_leaves_the_frames() {
    let routed = AttestedPeerInfo::from_identity(
        &tdx_record(Endpoint::default(), Endpoint::default()).to_identity(),
        Endpoint {
            ip: "203.0.113.9".into(),
            port: 40000,
        },
        Endpoint {
            ip: "127.0.0.1".into(),
            port: 11101,
        },
    )
    .expect("expressible");
    let builder = PolicyBuilder::builtin();
    let tdx = builder.build("tdx").expect("tdx").relayed();
    let (mut a, mut b) = tokio::io::duplex(64 * 1024);
    let mut bytes = routed.encode_framed().expect("encodes");
    bytes.extend(b"frames");
    a.write_all(&bytes).await.expect("written");
    let (peer, source) = admit_from_router(&mut b, &tdx, WAIT)
        .await
        .expect("admitted");
    assert_eq!(peer.tee, TeeKind::Tdx);
    assert_eq!(source.to_string(), "203.0.113.9:40000");
    let mut rest = [0u8; 6];
    b.read_exact(&mut rest).await.expect("rest");
    assert_eq!(&rest, b"frames");

    // The built-in fake policy refuses what a tdx router vouches for.
    let fake = builder.build("fake").expect("fake").relayed();
    a.write_all(&bytes[..bytes.len() - 6])
        .await
        .expect("written");
    let err = admit_from_router(&mut b, &fake, WAIT)
        .await
        .expect_err("refused");
    assert!(matches!(err, RouterAdmitError::Refused { .. }), "{err}");

    // Garbage: an unknown record version.
    a.write_all(&[8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0])
        .await
        .expect("written");
    let err = admit_from_router(&mut b, &tdx, WAIT)
        .await
        .expect_err("malformed");
    assert!(
        matches!(
            err,
            RouterAdmitError::Record(PeerInfoError::UnknownVersion(9))
        ),
        "{err}"
    );
}

async fn start_behind_router() -> proxy::ProxyHandle {
    let opts = GateOptions {
        tee: TeeMode::None,
        worker_policy: "fake".into(),
        client_policy: "any".into(),
        pow_difficulty: 0,
    };
    let gate = build_router_gate(&opts, &PolicyBuilder::builtin()).expect("router gate");
    let bind = || async { Some(TcpListener::bind("127.0.0.1:0").await.expect("bind")) };
    let listeners = ProxyListeners {
        workers: bind().await,
        clients: bind().await,
        ..ProxyListeners::default()
    };
    proxy::start(settings(), gate, listeners)
        .await
        .expect("proxy starts")
}

#[tokio::test]
async fn proxy_behind_router_accepts_a_connection_that_starts_with_a_record() {
    let proxy = start_behind_router().await;
    let clients = proxy.clients_addr.expect("client port");
    let mut tcp = TcpStream::connect(clients).await.expect("connect");
    // A reference router's record for a client accepted by `any` (v1, December).
    let record = AttestedPeerInfo {
        version: RecordVersion::V1,
        report: PeerReport::Absent,
        public_key: PEER_KEY,
        source: Endpoint {
            ip: "198.51.100.7".into(),
            port: 50000,
        },
        destination: Endpoint::from(clients),
    };
    tcp.write_all(&record.encode_framed().expect("encodes"))
        .await
        .expect("record");
    let (session, _inbound) = within(
        "session init behind the router",
        establish(tcp, SessionConfig::dialer()),
    )
    .await
    .expect("the proxy answers tcp.connected");
    assert!(!session.is_closed());
}

/// Waits until the proxy closes `tcp` (end of stream or reset).
async fn closed_by_proxy(mut tcp: TcpStream) {
    let mut buf = [0u8; 64];
    let n = within("proxy closes the connection", tcp.read(&mut buf)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "expected close, got {n:?}");
}

#[tokio::test]
async fn proxy_behind_router_closes_on_malformed_or_refused_records() {
    let proxy = start_behind_router().await;
    let workers = proxy.workers_addr.expect("worker port");

    let mut oversize = TcpStream::connect(workers).await.expect("connect");
    oversize
        .write_all(&u32::MAX.to_le_bytes())
        .await
        .expect("prefix");
    closed_by_proxy(oversize).await;

    let mut truncated = TcpStream::connect(workers).await.expect("connect");
    let record = tdx_record(Endpoint::default(), Endpoint::from(workers));
    let bytes = record.encode_framed().expect("encodes");
    truncated.write_all(&bytes[..100]).await.expect("part");
    truncated.shutdown().await.expect("half close");
    closed_by_proxy(truncated).await;

    // The worker port's built-in `fake` policy refuses an unattested peer.
    let mut unattested = TcpStream::connect(workers).await.expect("connect");
    let record = AttestedPeerInfo {
        report: PeerReport::Tdx(TdxReport::zeroed()),
        ..tdx_record(Endpoint::default(), Endpoint::from(workers))
    };
    unattested
        .write_all(&record.encode_framed().expect("encodes"))
        .await
        .expect("record");
    closed_by_proxy(unattested).await;
}
