//! The SOCKS5 client against an in-process fake SOCKS5 server.

use std::net::SocketAddr;
use std::time::Duration;

use cocoon_net::{socks5, NetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake server answers to the CONNECT request.
#[derive(Clone, Copy)]
enum FakeReply {
    /// Success, bound address given as IPv4.
    SuccessV4,
    /// Success, bound address given as a domain name.
    SuccessDomain,
    /// Failure with this RFC 1928 reply code.
    Fail(u8),
    /// Demands username/password authentication.
    WantAuth,
    /// Accepts the TCP connection and then says nothing.
    Silent,
}

/// Serves one client: checks the greeting and request bytes, replies, then
/// echoes whatever the client sends. Returns the CONNECT request it saw.
async fn fake_socks5_server(reply: FakeReply) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut greeting = [0u8; 3];
        stream.read_exact(&mut greeting).await.unwrap();
        assert_eq!(greeting, [5, 1, 0], "greeting offers exactly 'no auth'");
        match reply {
            FakeReply::Silent => {
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest).await;
                return Vec::new();
            }
            FakeReply::WantAuth => {
                stream.write_all(&[5, 2]).await.unwrap();
                return Vec::new();
            }
            _ => stream.write_all(&[5, 0]).await.unwrap(),
        }
        let mut request = [0u8; 10];
        stream.read_exact(&mut request).await.unwrap();
        match reply {
            FakeReply::SuccessV4 => stream
                .write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90])
                .await
                .unwrap(),
            FakeReply::SuccessDomain => {
                let mut answer = vec![5, 0, 0, 3, 9];
                answer.extend_from_slice(b"localhost");
                answer.extend_from_slice(&[0, 80]);
                stream.write_all(&answer).await.unwrap();
            }
            FakeReply::Fail(code) => {
                stream
                    .write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0])
                    .await
                    .unwrap();
                return request.to_vec();
            }
            FakeReply::WantAuth | FakeReply::Silent => unreachable!(),
        }
        let mut buf = [0u8; 64];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).await.unwrap();
        }
        request.to_vec()
    });
    (addr, task)
}

async fn echo_check(mut stream: TcpStream) {
    stream.write_all(b"hello through socks").await.unwrap();
    let mut back = [0u8; 19];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello through socks");
}

#[tokio::test]
async fn connect_sends_ipv4_request_and_returns_the_tunnel() {
    for reply in [FakeReply::SuccessV4, FakeReply::SuccessDomain] {
        let (proxy, server) = fake_socks5_server(reply).await;
        let target: SocketAddr = "192.0.2.7:5222".parse().unwrap();
        let stream = socks5::connect(proxy, target)
            .await
            .expect("socks5 connect");
        echo_check(stream).await;
        let request = server.await.unwrap();
        assert_eq!(request, [5, 1, 0, 1, 192, 0, 2, 7, 0x14, 0x66]);
    }
}

#[tokio::test]
async fn refused_connect_is_reported_with_its_code() {
    let (proxy, server) = fake_socks5_server(FakeReply::Fail(5)).await;
    let err = socks5::connect(proxy, "192.0.2.7:1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NetError::Socks5(msg) if msg.contains("connection refused") && msg.contains("code 5")),
        "{err}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn server_demanding_authentication_is_rejected() {
    let (proxy, server) = fake_socks5_server(FakeReply::WantAuth).await;
    let err = socks5::connect(proxy, "192.0.2.7:1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NetError::Socks5(msg) if msg.contains("authentication")),
        "{err}"
    );
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn silent_server_hits_the_10s_deadline() {
    let (proxy, server) = fake_socks5_server(FakeReply::Silent).await;
    let started = tokio::time::Instant::now();
    let err = socks5::connect(proxy, "192.0.2.7:1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::Socks5Timeout(d) if d == Duration::from_secs(10)),
        "{err}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    server.abort();
}

#[tokio::test]
async fn truncated_reply_is_an_error_not_a_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut greeting = [0u8; 3];
        stream.read_exact(&mut greeting).await.unwrap();
        stream.write_all(&[5, 0]).await.unwrap();
        let mut request = [0u8; 10];
        stream.read_exact(&mut request).await.unwrap();
        stream.write_all(&[5, 0, 0, 1, 10]).await.unwrap(); // cut short
    });
    let err = socks5::connect(proxy, "192.0.2.7:1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Io(_)), "{err}");
    server.await.unwrap();
}
