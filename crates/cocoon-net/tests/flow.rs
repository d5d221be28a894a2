//! Packet ordering, back-pressure in both directions, and how sessions end.

mod common;

use std::time::Duration;

use cocoon_net::{CloseReason, InboundMessage, SessionConfig};
use cocoon_wire::schema::types;
use common::{session_pair, session_with_raw_peer, test_answer, TcpPacket, PIPE_BUFFER};

#[tokio::test]
async fn one_way_packets_arrive_in_order() {
    let ((dialer, _din), (acceptor, mut ain)) = session_pair().await;
    let count = 2_000i64;
    let sender = tokio::spawn(async move {
        for i in 0..count {
            dialer.send(test_answer(i)).await.unwrap();
        }
        dialer
    });
    for i in 0..count {
        match ain.next().await {
            Some(InboundMessage::Packet(data)) => assert_eq!(data, test_answer(i)),
            other => panic!("packet {i}: got {other:?}"),
        }
    }
    let _dialer = sender.await.unwrap();
    assert!(!acceptor.is_closed());
}

#[tokio::test(start_paused = true)]
async fn send_blocks_when_the_peer_does_not_read() {
    let mut cfg = SessionConfig::dialer();
    cfg.outbound_queue = 8;
    let (session, _inbound, _peer) = session_with_raw_peer(cfg).await;
    let frame = 4096;
    let mut accepted = 0usize;
    loop {
        let send = session.send(vec![0x55; frame]);
        match tokio::time::timeout(Duration::from_secs(1), send).await {
            Ok(result) => {
                result.unwrap();
                accepted += 1;
                assert!(accepted < 1000, "send never blocked: memory would grow");
            }
            Err(_) => break,
        }
    }
    // What the pipe buffers, plus the queue, plus one batch in the writer.
    let bound = PIPE_BUFFER / frame + 8 + 1 + 2;
    assert!(
        accepted <= bound,
        "{accepted} sends accepted, expected at most {bound}"
    );
    assert!(accepted >= 8, "only {accepted} sends accepted");
    assert!(!session.is_closed());
}

#[tokio::test(start_paused = true)]
async fn send_blocks_on_the_byte_budget_long_before_the_frame_count() {
    let mut cfg = SessionConfig::dialer();
    cfg.outbound_queue = 10_000;
    cfg.outbound_bytes = 64 * 1024;
    let (session, _inbound, _peer) = session_with_raw_peer(cfg.clone()).await;
    let frame = 16 * 1024;
    let mut accepted = 0usize;
    while tokio::time::timeout(Duration::from_secs(1), session.send(vec![0x55; frame]))
        .await
        .is_ok()
    {
        accepted += 1;
        assert!(accepted < 1000, "send never blocked");
    }
    // Pipe + byte budget + what the writer holds in one batch (≤ 256 KiB
    // plus a frame): far below the 10 000-frame queue.
    let bound = (PIPE_BUFFER + cfg.outbound_bytes + 256 * 1024) / frame + 2;
    assert!(
        accepted <= bound,
        "{accepted} sends accepted, expected at most {bound}"
    );
}

#[tokio::test(start_paused = true)]
async fn inbound_byte_budget_stops_the_reader() {
    let mut cfg = SessionConfig::acceptor();
    cfg.inbound_queue = 10_000;
    cfg.inbound_bytes = 16 * 1024;
    let (_session, mut inbound, mut peer) = session_with_raw_peer(cfg).await;
    let packet = TcpPacket::Packet(types::tcp::Packet {
        data: vec![7; 4000],
    });
    let mut written = 0usize;
    while tokio::time::timeout(Duration::from_secs(1), peer.send_packet(packet.clone()))
        .await
        .is_ok()
    {
        written += 1;
        assert!(written < 1000, "reader never stopped reading");
    }
    // Pipe + the reader's receive buffer (≤ 64 KiB reads) + budget + the one
    // message waiting for budget: far below the 10 000-message queue.
    assert!(
        written <= (2 * PIPE_BUFFER + 16 * 1024) / 4000 + 16,
        "{written} packets written"
    );
    for _ in 0..written {
        assert!(matches!(
            inbound.next().await,
            Some(InboundMessage::Packet(_))
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn blocked_send_fails_when_the_session_closes() {
    let mut cfg = SessionConfig::dialer();
    cfg.outbound_queue = 1;
    let (session, _inbound, _peer) = session_with_raw_peer(cfg).await;
    // Fill the pipe and the queue.
    while tokio::time::timeout(Duration::from_secs(1), session.send(vec![1; 8192]))
        .await
        .is_ok()
    {}
    let blocked = tokio::spawn({
        let session = session.clone();
        async move { session.send(vec![2; 8192]).await }
    });
    tokio::task::yield_now().await;
    session.close();
    let err = blocked.await.unwrap().unwrap_err();
    assert!(matches!(err, cocoon_net::NetError::Closed(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn slow_consumer_stops_the_reader() {
    let mut cfg = SessionConfig::acceptor();
    cfg.inbound_queue = 4;
    let (session, mut inbound, mut peer) = session_with_raw_peer(cfg).await;
    // The application does not take packets; the peer keeps writing until the
    // pipe is full, which happens only because the reader stopped reading.
    let packet = TcpPacket::Packet(types::tcp::Packet {
        data: vec![7; 4000],
    });
    let mut written = 0usize;
    while tokio::time::timeout(Duration::from_secs(1), peer.send_packet(packet.clone()))
        .await
        .is_ok()
    {
        written += 1;
        assert!(written < 1000, "reader never stopped reading");
    }
    // Taking the messages resumes reading; everything written arrives.
    let mut received = 0usize;
    while received < written {
        match inbound.next().await {
            Some(InboundMessage::Packet(data)) => assert_eq!(data.len(), 4000),
            other => panic!("got {other:?}"),
        }
        received += 1;
    }
    assert!(!session.is_closed(), "{:?}", session.close_reason());
}

#[tokio::test]
async fn local_close_delivers_queued_packets_then_ends_the_stream() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    for i in 0..10 {
        session.send(test_answer(i)).await.unwrap();
    }
    session.close();
    for i in 0..10 {
        match peer.recv_packet().await {
            TcpPacket::Packet(p) => assert_eq!(p.data, test_answer(i)),
            other => panic!("got {other:?}"),
        }
    }
    assert!(peer.recv_payload().await.is_none());
    assert_eq!(session.closed().await, CloseReason::Local);
}

#[tokio::test]
async fn dropping_every_handle_closes_the_session() {
    let (session, inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    let clone = session.clone();
    drop(session);
    drop(inbound);
    assert!(!clone.is_closed(), "a clone still holds it open");
    drop(clone);
    assert!(peer.recv_payload().await.is_none());
}

#[tokio::test]
async fn inbound_ends_after_close_once_drained() {
    let (session, mut inbound, mut peer) = session_with_raw_peer(SessionConfig::acceptor()).await;
    peer.send_packet(TcpPacket::Packet(types::tcp::Packet {
        data: test_answer(1),
    }))
    .await;
    drop(peer);
    assert_eq!(session.closed().await, CloseReason::PeerClosed);
    assert!(matches!(
        inbound.next().await,
        Some(InboundMessage::Packet(_))
    ));
    assert!(inbound.next().await.is_none());
}
