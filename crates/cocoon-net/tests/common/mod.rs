//! Test helpers: a hand-driven "raw" peer that speaks frames directly (so
//! tests can see and forge exact bytes), and a pair of connected sessions.

#![allow(dead_code)] // each test binary uses a different subset

use bytes::Bytes;
use cocoon_net::{establish, Inbound, Session, SessionConfig};
use cocoon_wire::frame::{FrameDecoder, FrameEncoder};
use cocoon_wire::schema::{enums, types};
use cocoon_wire::tl::{from_bytes, to_bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

pub type TcpPacket = enums::tcp::Packet;

/// Buffer size of the in-memory pipes.
pub const PIPE_BUFFER: usize = 64 * 1024;

/// The far end of a session, driven by hand.
pub struct RawPeer {
    pub io: DuplexStream,
    pub encoder: FrameEncoder,
    pub decoder: FrameDecoder,
}

impl RawPeer {
    pub fn new(io: DuplexStream) -> Self {
        RawPeer {
            io,
            encoder: FrameEncoder::new(),
            decoder: FrameDecoder::new(),
        }
    }

    /// Writes bytes as they are (no framing).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("raw write");
    }

    /// Frames and writes one payload with the next seqno.
    pub async fn send_payload(&mut self, payload: &[u8]) {
        let frame = self
            .encoder
            .encode_to_vec(payload)
            .expect("payload in range");
        self.send_raw(&frame).await;
    }

    pub async fn send_packet(&mut self, packet: TcpPacket) {
        self.send_payload(&to_bytes(&packet)).await;
    }

    /// The next payload, or `None` at end of stream.
    pub async fn recv_payload(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self
                .decoder
                .next_frame()
                .expect("session sent valid frames")
            {
                return Some(frame);
            }
            let n = self
                .io
                .read_buf(self.decoder.buffer_mut())
                .await
                .expect("raw read");
            if n == 0 {
                assert!(!self.decoder.has_partial_frame(), "stream ended mid-frame");
                return None;
            }
        }
    }

    /// The next decoded tcp.Packet; panics at end of stream.
    pub async fn recv_packet(&mut self) -> TcpPacket {
        let payload = self
            .recv_payload()
            .await
            .expect("a frame, not end of stream");
        from_bytes(&payload).expect("session sent a valid tcp.Packet")
    }

    /// Acts as acceptor: expects tcp.connect, answers tcp.connected.
    pub async fn accept(&mut self) -> i64 {
        match self.recv_packet().await {
            TcpPacket::Connect(types::tcp::Connect { id }) => {
                self.send_packet(TcpPacket::Connected(types::tcp::Connected { id }))
                    .await;
                id
            }
            other => panic!("expected tcp.connect, got {other:?}"),
        }
    }

    /// Acts as dialer: sends tcp.connect, expects tcp.connected.
    pub async fn dial(&mut self, id: i64) {
        self.send_packet(TcpPacket::Connect(types::tcp::Connect { id }))
            .await;
        match self.recv_packet().await {
            TcpPacket::Connected(types::tcp::Connected { id: got }) => assert_eq!(got, id),
            other => panic!("expected tcp.connected, got {other:?}"),
        }
    }
}

/// A session (role from `cfg`) connected to a raw peer that has completed
/// the handshake.
pub async fn session_with_raw_peer(cfg: SessionConfig) -> (Session, Inbound, RawPeer) {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let mut peer = RawPeer::new(theirs);
    let dialer = matches!(cfg.role, cocoon_net::Role::Dialer);
    let (established, ()) = tokio::join!(establish(ours, cfg), async {
        if dialer {
            peer.accept().await;
        } else {
            peer.dial(0x1122_3344_5566_7788).await;
        }
    });
    let (session, inbound) = established.expect("handshake with raw peer");
    (session, inbound, peer)
}

/// A dialer session and an acceptor session connected to each other.
pub async fn session_pair() -> ((Session, Inbound), (Session, Inbound)) {
    session_pair_with(SessionConfig::dialer(), SessionConfig::acceptor()).await
}

pub async fn session_pair_with(
    dialer: SessionConfig,
    acceptor: SessionConfig,
) -> ((Session, Inbound), (Session, Inbound)) {
    let (a, b) = tokio::io::duplex(PIPE_BUFFER);
    let (d, acc) = tokio::join!(establish(a, dialer), establish(b, acceptor));
    (
        d.expect("dialer handshake"),
        acc.expect("acceptor handshake"),
    )
}

/// A small boxed TL object to carry as packet/query data.
pub fn test_answer(id: i64) -> Vec<u8> {
    to_bytes(&enums::test::Answer::Answer(types::test::Answer { id }))
}
