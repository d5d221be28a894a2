//! TLS interop with OpenSSL configured like the reference (TLS 1.3 only,
//! AES-GCM suites, mandatory client certificate, no tickets, host name
//! "127.0.0.1", no SNI): our rustls client against `openssl s_server` and
//! `openssl s_client` against our rustls server, with our certificates and
//! PKCS#8 v1 keys on both sides. TLS only (the `openssl` tools have no PoW).
//! Skipped when no `openssl` binary is on PATH.

mod link_support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use cocoon_tee::cert::CertAndKey;
use cocoon_tee::tls::{self, FixedClock, PeerVerifier};
use cocoon_tee::TeeKind;
use link_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

fn openssl_available() -> bool {
    std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Certificates valid now by the system clock (OpenSSL checks dates with it).
fn current_fake_cert() -> CertAndKey {
    let not_before = std::time::SystemTime::now() - Duration::from_secs(60);
    cocoon_tee::cert::generate(Some(&cocoon_tee::fake::FakeQuoteProvider), not_before)
        .expect("cert")
}

fn write_pair(dir: &std::path::Path, name: &str, cert: &CertAndKey) -> (String, String) {
    let cert_path = dir.join(format!("{name}_cert.pem"));
    let key_path = dir.join(format!("{name}_key.pem"));
    std::fs::write(&cert_path, cert.cert_pem()).expect("write cert");
    std::fs::write(&key_path, cert.key_pem()).expect("write key");
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    )
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("cocoon-link-interop-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn system_clock_verifier() -> Arc<PeerVerifier> {
    Arc::new(PeerVerifier::new(
        fake_policy(),
        Arc::new(FixedClock(std::time::SystemTime::now())),
    ))
}

#[tokio::test]
async fn rustls_client_against_openssl_server() {
    if !openssl_available() {
        println!("skipped: openssl not found");
        return;
    }
    let dir = temp_dir("client");
    let (server_cert, client_cert) = (current_fake_cert(), current_fake_cert());
    let (server_cert_path, server_key_path) = write_pair(&dir, "server", &server_cert);
    let (client_cert_path, _) = write_pair(&dir, "client", &client_cert);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            &server_cert_path,
            "-key",
            &server_key_path,
        ])
        .args([
            "-tls1_3",
            "-ciphersuites",
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
            "-no_ticket",
        ])
        .args([
            "-Verify",
            "1",
            "-CAfile",
            &client_cert_path,
            "-ignore_critical",
            "-verify_return_error",
            "-naccept",
            "1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn openssl s_server");

    let mut tcp = None;
    for _ in 0..100 {
        if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            tcp = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tcp = tcp.expect("openssl s_server did not start");
    let verifier = system_clock_verifier();
    let config = tls::client_config(&own(&client_cert), verifier.clone()).expect("config");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut stream = connector
        .connect(tls::server_name(), tcp)
        .await
        .expect("handshake with OpenSSL");
    let peer = verifier.take_outcome().expect("checked").expect("accepted");
    assert_eq!(peer.public_key, server_cert.public_key());
    assert_eq!(peer.tee, TeeKind::Fake);
    stream
        .write_all(b"hello-from-rustls\n")
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    let _ = server.start_kill();
    let output = server.wait_with_output().await.expect("s_server output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("hello-from-rustls"),
        "s_server stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("TLS_AES_"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn openssl_client_against_rustls_server() {
    if !openssl_available() {
        println!("skipped: openssl not found");
        return;
    }
    let dir = temp_dir("server");
    let (server_cert, client_cert) = (current_fake_cert(), current_fake_cert());
    let (server_cert_path, _) = write_pair(&dir, "server", &server_cert);
    let (client_cert_path, client_key_path) = write_pair(&dir, "client", &client_cert);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-cert",
            &client_cert_path,
            "-key",
            &client_key_path,
        ])
        .args([
            "-tls1_3",
            "-ciphersuites",
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
            "-noservername",
        ])
        .args([
            "-CAfile",
            &server_cert_path,
            "-ignore_critical",
            "-verify_hostname",
            "127.0.0.1",
            "-verify_return_error",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn openssl s_client");

    let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("connect")
        .expect("accept");
    let verifier = system_clock_verifier();
    let config = tls::server_config(&own(&server_cert), verifier.clone()).expect("config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let mut stream = acceptor.accept(tcp).await.expect("handshake with OpenSSL");
    let peer = verifier.take_outcome().expect("checked").expect("accepted");
    assert_eq!(peer.public_key, client_cert.public_key());

    let mut stdin = client.stdin.take().expect("stdin");
    stdin
        .write_all(b"hello-from-openssl\n")
        .await
        .expect("stdin");
    stdin.flush().await.expect("flush");
    let mut line = [0u8; 19];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut line))
        .await
        .expect("read")
        .expect("read");
    assert_eq!(&line, b"hello-from-openssl\n");
    drop(stdin);
    drop(stream);
    let output = client.wait_with_output().await.expect("s_client output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    assert!(stdout.contains("TLSv1.3"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
