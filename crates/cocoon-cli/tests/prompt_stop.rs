//! Every long-running command stops promptly on SIGINT (issue 14): the fake engine,
//! the proxy, a worker and the client of a `cocoon up` network — each with its links
//! to the others open and a kept-alive HTTP connection of ours on its HTTP port — and
//! `cocoon up` itself, and a standalone `cocoon backend fake` in the middle of a slow
//! streamed answer, started with SIGINT ignored as a background job of a script is. Loopback only; the bound is generous for a loaded 2-core machine.

#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, UpNetwork};

/// How long a command may take to exit after SIGINT (it should take well under a second).
const STOP_BOUND: Duration = Duration::from_secs(3);

/// Whether `pid` has exited: gone, or a zombie its parent has not reaped yet.
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Opens a connection to `addr`, asks `GET path` with keep-alive and reads the answer's
/// head, leaving the connection open and idle.
fn kept_alive(addr: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\r\n"
    )
    .expect("request");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("answer head");
    assert!(
        head.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Sends `signal` to `pid`.
fn signal(pid: u32, signal: i32) {
    // SAFETY: a signal to a process this test started (directly or through `cocoon up`).
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Waits for `pid` to exit, at most [`STOP_BOUND`]; how long it took.
fn wait_exit(pid: u32, what: &str) -> Duration {
    let started = Instant::now();
    while !exited(pid) {
        assert!(
            started.elapsed() < STOP_BOUND,
            "{what} [pid {pid}] still running {STOP_BOUND:?} after the signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

#[test]
fn every_node_of_a_network_and_up_stop_promptly_on_sigint() {
    let mut net = UpNetwork::start(&["--workers", "1", "--no-payments"]);
    let engine = net.engine_url.clone().expect("fake engine url");
    let client = net.client_url.clone();
    let http_port = |name: &str| net.node(name).stats.clone().expect("stats address");
    let nodes = [
        (
            "engine",
            engine.trim_start_matches("http://").to_string(),
            "/v1/models",
        ),
        ("proxy", http_port("proxy"), "/jsonstats"),
        ("worker1", http_port("worker1"), "/jsonstats"),
        (
            "client",
            client.trim_start_matches("http://").to_string(),
            "/v1/models",
        ),
    ];
    for (name, addr, path) in nodes {
        // `up` prints `cocoon up: engine up (fake) at URL [pid N]`, a node line too.
        let pid = net.node(name).pid;
        let _conn = kept_alive(&addr, path);
        signal(pid, libc::SIGINT);
        let took = wait_exit(pid, name);
        eprintln!("{name} exited {took:?} after SIGINT");
    }
    // `up` restarts the four; then it is stopped itself, with every node running.
    let restarted: Vec<u32> = (0..4)
        .map(|_| {
            let line = net.wait_line(" restarted [pid ", Duration::from_secs(30));
            line.rsplit_once("[pid ")
                .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
                .unwrap_or_else(|| panic!("no pid in {line:?}"))
        })
        .collect();
    let took = net
        .interrupt(STOP_BOUND)
        .expect("cocoon up exits on SIGINT");
    eprintln!("cocoon up exited {took:?} after SIGINT, its nodes with it");
    for pid in restarted {
        assert!(exited(pid), "node {pid} outlived cocoon up");
    }
}

#[test]
fn backend_fake_stops_promptly_mid_stream() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_cocoon"));
    // Started as a background job of a non-interactive shell is: with SIGINT ignored, so
    // only a handler of its own stops it.
    // SAFETY: `signal` is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command
        .args(["backend", "fake", "--port", &port.to_string()])
        .args(["--chunks", "1000", "--delay-ms", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cocoon backend fake");
    let started = Instant::now();
    let mut idle = loop {
        match TcpStream::connect(&addr) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("the fake engine did not listen: {e}"),
        }
    };
    // One kept-alive idle connection, and one in the middle of a 100 s streamed answer.
    drop(std::mem::replace(
        &mut idle,
        kept_alive(&addr, "/v1/models"),
    ));
    let mut streaming = TcpStream::connect(&addr).expect("connect");
    let body =
        r#"{"model":"Qwen/Qwen3-8B","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    write!(
        streaming,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    streaming
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut first = [0u8; 64];
    let n = streaming.read(&mut first).expect("the stream started");
    assert!(n > 0, "the stream started");

    signal(child.id(), libc::SIGINT);
    let stopped = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!(
                "backend fake exited ({status}) {:?} after SIGINT",
                stopped.elapsed()
            );
            break;
        }
        if stopped.elapsed() > STOP_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("backend fake still running {STOP_BOUND:?} after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop((idle, streaming));
}
