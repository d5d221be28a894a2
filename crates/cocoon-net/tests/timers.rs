//! Idle timeouts and the dialer's pings (virtual time, no real sleeps).

mod common;

use std::time::Duration;

use cocoon_net::{CloseReason, SessionConfig};
use cocoon_wire::schema::types;
use common::{session_pair, session_with_raw_peer, TcpPacket};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn silent_peer_idles_out_the_acceptor_after_60s() {
    let (session, _inbound, _peer) = session_with_raw_peer(SessionConfig::acceptor()).await;
    let started = Instant::now();
    assert_eq!(
        session.closed().await,
        CloseReason::IdleTimeout(Duration::from_secs(60))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn dialer_pings_once_then_idles_out_if_nothing_comes_back() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    let started = Instant::now();
    match peer.recv_packet().await {
        TcpPacket::Ping(_) => {}
        other => panic!("expected tcp.ping, got {other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    // The peer does not answer: one ping only, then the 20 s idle close.
    assert_eq!(
        session.closed().await,
        CloseReason::IdleTimeout(Duration::from_secs(20))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert!(peer.recv_payload().await.is_none(), "no second ping");
}

#[tokio::test(start_paused = true)]
async fn every_received_frame_resets_the_idle_deadline() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    let started = Instant::now();
    for round in 1..=5u64 {
        let TcpPacket::Ping(ping) = peer.recv_packet().await else {
            panic!("expected tcp.ping")
        };
        assert_eq!(started.elapsed(), Duration::from_secs(10 * round));
        peer.send_packet(TcpPacket::Pong(types::tcp::Pong { id: ping.id }))
            .await;
    }
    assert!(!session.is_closed());
}

#[tokio::test(start_paused = true)]
async fn ping_keeps_a_quiet_session_pair_alive() {
    let ((dialer, _din), (acceptor, _ain)) = session_pair().await;
    // Five idle minutes: the dialer pings every 10 s, the acceptor pongs, and
    // the acceptor's 60 s deadline is reset by each ping.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(!dialer.is_closed(), "{:?}", dialer.close_reason());
    assert!(!acceptor.is_closed(), "{:?}", acceptor.close_reason());
}

#[tokio::test(start_paused = true)]
async fn acceptor_answers_ping_with_pong_and_never_pings() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::acceptor()).await;
    peer.send_packet(TcpPacket::Ping(types::tcp::Ping { id: -42 }))
        .await;
    match peer.recv_packet().await {
        TcpPacket::Pong(types::tcp::Pong { id }) => assert_eq!(id, -42),
        other => panic!("expected tcp.pong, got {other:?}"),
    }
    // No frame of its own until it idles out 60 s after the ping.
    let started = Instant::now();
    assert!(peer.recv_payload().await.is_none());
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    assert!(matches!(
        session.close_reason(),
        Some(CloseReason::IdleTimeout(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_acceptor_with_liveness_pings_and_drops_a_silent_peer() {
    // A peer that stops answering (kill -STOP): the acceptor pings it after a
    // third of the limit and closes the link once the limit passes unanswered.
    let cfg = SessionConfig::acceptor().with_liveness(Duration::from_secs(6));
    let (session, _inbound, mut peer) = session_with_raw_peer(cfg).await;
    let started = Instant::now();
    assert!(matches!(peer.recv_packet().await, TcpPacket::Ping(_)));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(
        session.closed().await,
        CloseReason::IdleTimeout(Duration::from_secs(6))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn timers_follow_the_config() {
    let mut cfg = SessionConfig::dialer();
    cfg.ping_interval = Duration::from_secs(2);
    cfg.idle_timeout = Duration::from_secs(3);
    let (session, _inbound, mut peer) = session_with_raw_peer(cfg).await;
    let started = Instant::now();
    assert!(matches!(peer.recv_packet().await, TcpPacket::Ping(_)));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(
        session.closed().await,
        CloseReason::IdleTimeout(Duration::from_secs(3))
    );
}

#[tokio::test(start_paused = true)]
async fn a_dialer_that_only_receives_still_pings_every_interval() {
    // A long streamed answer: the peer sends a frame every second for 100 s and the
    // dialer sends nothing of its own. The peer's idle timer (60 s on an acceptor) counts
    // what it receives, so the dialer must still ping once per interval.
    let (session, mut inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    let drain = tokio::spawn(async move { while inbound.next().await.is_some() {} });
    let started = Instant::now();
    let mut pings = Vec::new();
    for _ in 0..100 {
        peer.send_packet(TcpPacket::Packet(types::tcp::Packet {
            data: b"part".to_vec(),
        }))
        .await;
        let step = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(step);
        loop {
            tokio::select! {
                _ = &mut step => break,
                packet = peer.recv_packet() => match packet {
                    TcpPacket::Ping(_) => pings.push(started.elapsed().as_secs()),
                    other => panic!("unexpected {other:?}"),
                },
            }
        }
    }
    assert!(!session.is_closed(), "{:?}", session.close_reason());
    assert_eq!(
        pings.len(),
        9,
        "one ping per 10 s (at 10, 20, … 90 s): {pings:?}"
    );
    for pair in pings.windows(2) {
        assert!(pair[1] - pair[0] >= 10, "{pings:?}");
    }
    drain.abort();
}
