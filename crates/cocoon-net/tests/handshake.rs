//! Connection init (`tcp.connect` / `tcp.connected`) and framing violations.

mod common;

use std::time::Duration;

use cocoon_net::{establish, CloseReason, NetError, SessionConfig};
use cocoon_wire::frame::FrameError;
use cocoon_wire::schema::types;
use common::{session_pair, session_with_raw_peer, RawPeer, TcpPacket, PIPE_BUFFER};

#[tokio::test]
async fn dialer_and_acceptor_sessions_connect_to_each_other() {
    let ((dialer, _dialer_in), (acceptor, _acceptor_in)) = session_pair().await;
    assert_eq!(dialer.role(), cocoon_net::Role::Dialer);
    assert_eq!(acceptor.role(), cocoon_net::Role::Acceptor);
    assert!(!dialer.is_closed() && !acceptor.is_closed());
    assert_ne!(dialer.id(), acceptor.id());
}

#[tokio::test]
async fn dialer_sends_connect_as_frame_zero() {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut peer = RawPeer::new(theirs);
    let dial = tokio::spawn(establish(ours, SessionConfig::dialer()));
    let frame = peer.recv_payload().await.expect("frame 0");
    // tcp.connect id:long, seqno 0: 4-byte id + 8-byte random id.
    assert_eq!(frame.len(), 12);
    assert_eq!(peer.decoder.expected_seqno(), 1);
    let id = match cocoon_wire::tl::from_bytes(&frame).unwrap() {
        TcpPacket::Connect(types::tcp::Connect { id }) => id,
        other => panic!("expected tcp.connect, got {other:?}"),
    };
    // The id of tcp.connected is not checked by the dialer (as in the reference).
    peer.send_packet(TcpPacket::Connected(types::tcp::Connected { id: id ^ 1 }))
        .await;
    let (session, _inbound) = dial.await.unwrap().expect("dialer ready");
    assert!(!session.is_closed());
}

#[tokio::test]
async fn acceptor_answers_connected_with_the_same_id() {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut peer = RawPeer::new(theirs);
    let accept = tokio::spawn(establish(ours, SessionConfig::acceptor()));
    peer.dial(0x1122_3344_5566_7788).await; // asserts the echoed id
    assert_eq!(peer.decoder.expected_seqno(), 1);
    accept.await.unwrap().expect("acceptor ready");
}

#[tokio::test]
async fn acceptor_rejects_a_first_frame_that_is_not_connect() {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut peer = RawPeer::new(theirs);
    let accept = tokio::spawn(establish(ours, SessionConfig::acceptor()));
    peer.send_packet(TcpPacket::Ping(types::tcp::Ping { id: 1 }))
        .await;
    let err = accept.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, NetError::Handshake(msg) if msg.contains("tcp.ping")),
        "{err}"
    );
}

#[tokio::test]
async fn handshake_with_garbage_first_frame_fails() {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut peer = RawPeer::new(theirs);
    let accept = tokio::spawn(establish(ours, SessionConfig::acceptor()));
    // Well framed, but not a TL object at all.
    peer.send_payload(b"GET / HTTP/1.1\r\n").await;
    let err = accept.await.unwrap().unwrap_err();
    assert!(matches!(err, NetError::Handshake(_)), "{err}");
}

#[tokio::test]
async fn handshake_with_trailing_bytes_in_connect_fails() {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut peer = RawPeer::new(theirs);
    let accept = tokio::spawn(establish(ours, SessionConfig::acceptor()));
    let mut payload = cocoon_wire::tl::to_bytes(&TcpPacket::Connect(types::tcp::Connect { id: 5 }));
    payload.extend_from_slice(&[0, 0, 0, 0]);
    peer.send_payload(&payload).await;
    let err = accept.await.unwrap().unwrap_err();
    assert!(matches!(err, NetError::Handshake(_)), "{err}");
}

#[tokio::test]
async fn handshake_with_bad_framing_fails() {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut peer = RawPeer::new(theirs);
    let accept = tokio::spawn(establish(ours, SessionConfig::acceptor()));
    // An HTTP request read as a frame header: absurd length.
    peer.send_raw(b"GET / HTTP/1.1\r\n").await;
    let err = accept.await.unwrap().unwrap_err();
    assert!(
        matches!(err, NetError::Framing(FrameError::LengthOutOfRange { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn handshake_fails_when_peer_hangs_up() {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    drop(theirs);
    let err = establish(ours, SessionConfig::dialer()).await.unwrap_err();
    assert!(
        matches!(err, NetError::ClosedDuringHandshake | NetError::Io(_)),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn handshake_times_out_when_peer_stays_silent() {
    let (ours, _theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut cfg = SessionConfig::acceptor();
    cfg.handshake_timeout = Duration::from_secs(5);
    let started = tokio::time::Instant::now();
    let err = establish(ours, cfg).await.unwrap_err();
    assert!(matches!(err, NetError::HandshakeTimeout(d) if d == Duration::from_secs(5)));
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn bad_seqno_after_init_closes_the_session() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    let mut forged = Vec::new();
    forged.extend_from_slice(&12u32.to_le_bytes());
    forged.extend_from_slice(&5i32.to_le_bytes()); // expected 1
    forged.extend_from_slice(&cocoon_wire::tl::to_bytes(&TcpPacket::Ping(
        types::tcp::Ping { id: 9 },
    )));
    peer.send_raw(&forged).await;
    assert_eq!(
        session.closed().await,
        CloseReason::Framing(FrameError::BadSeqno {
            expected: 1,
            got: 5
        })
    );
    // The transport is dropped: the peer sees end of stream.
    assert!(peer.recv_payload().await.is_none());
}

#[tokio::test]
async fn length_out_of_range_closes_the_session() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::acceptor()).await;
    let too_long = (1u32 << 24) + 1;
    let mut header = too_long.to_le_bytes().to_vec();
    header.extend_from_slice(&1i32.to_le_bytes());
    // Only the header: the session must not wait for 16 MiB of body.
    peer.send_raw(&header).await;
    assert_eq!(
        session.closed().await,
        CloseReason::Framing(FrameError::LengthOutOfRange {
            len: u64::from(too_long)
        })
    );
}

#[tokio::test]
async fn undecodable_frame_is_dropped_and_session_continues() {
    let (session, mut inbound, mut peer) = session_with_raw_peer(SessionConfig::acceptor()).await;
    peer.send_payload(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])
        .await;
    // Post-init tcp.connect / tcp.connected are ignored as well.
    peer.send_packet(TcpPacket::Connect(types::tcp::Connect { id: 3 }))
        .await;
    peer.send_packet(TcpPacket::Connected(types::tcp::Connected { id: 3 }))
        .await;
    let data = common::test_answer(77);
    peer.send_packet(TcpPacket::Packet(types::tcp::Packet { data: data.clone() }))
        .await;
    match inbound.next().await {
        Some(cocoon_net::InboundMessage::Packet(got)) => assert_eq!(got, data),
        other => panic!("expected the packet, got {other:?}"),
    }
    assert!(!session.is_closed());
}
