//! Conversations recorded between the reference runners themselves (December 2025 `b75d444`,
//! April 2026 `9060ce5`), as test data: `tests/reference-conversations/<generation>/`, one
//! JSON-lines file per TCP connection and tap (see the README there for how they were recorded).
//! Each file: a header object, then one unit per line — a SOCKS5 message, the router's
//! attested-peer-info record, or one cocoon frame's payload — with who sent it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cocoon_wire::schema::{enums, types};
use cocoon_wire::tl::{from_bytes, peek_constructor_id};
use serde_json::Value;

/// The generations recorded, oldest first.
pub const GENERATIONS: [&str; 2] = ["dec", "apr"];

/// The recordings every generation has.
pub const RECORDINGS: [&str; 4] = [
    "client-proxy.at-proxy",
    "client-proxy.at-client",
    "worker-proxy.at-proxy",
    "worker-proxy.at-worker",
];

/// What a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Socks,
    PeerInfo,
    Frame,
}

/// One recorded unit.
#[derive(Debug, Clone)]
pub struct Unit {
    pub from: String,
    pub kind: Kind,
    pub seqno: Option<i32>,
    pub bytes: Vec<u8>,
}

/// One recorded connection.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub path: PathBuf,
    pub generation: String,
    pub commit: String,
    pub link: String,
    pub dialer: String,
    pub units: Vec<Unit>,
}

/// A frame's `tcp.*` layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Tcp {
    Connect,
    Connected,
    Ping,
    Pong,
    Packet(Vec<u8>),
    Query(i64, Vec<u8>),
    Answer(i64, Vec<u8>),
    Error(i64, i32, String),
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference-conversations")
}

/// Loads `<generation>/<name>.jsonl`.
pub fn load(generation: &str, name: &str) -> Transcript {
    let path = root().join(generation).join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (recorded test data)", path.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Value = serde_json::from_str(lines.next().expect("header line")).expect("header");
    let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let units = lines
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("unit line");
            let kind = match v["kind"].as_str() {
                Some("socks") => Kind::Socks,
                Some("peer_info") => Kind::PeerInfo,
                Some("frame") => Kind::Frame,
                other => panic!("{}: unknown unit kind {other:?}", path.display()),
            };
            Unit {
                from: field(&v, "from"),
                kind,
                seqno: v["seqno"].as_i64().map(|s| s as i32),
                bytes: hex::decode(v["hex"].as_str().expect("hex")).expect("hex bytes"),
            }
        })
        .collect();
    Transcript {
        generation: field(&header, "generation"),
        commit: field(&header, "commit"),
        link: field(&header, "link"),
        dialer: field(&header, "dialer"),
        path,
        units,
    }
}

/// Every recording of every generation.
pub fn all() -> Vec<Transcript> {
    GENERATIONS
        .iter()
        .flat_map(|g| RECORDINGS.iter().map(move |n| load(g, n)))
        .collect()
}

/// The `tcp.*` layer of a frame payload.
pub fn tcp(payload: &[u8]) -> Tcp {
    match peek_constructor_id(payload) {
        Some(types::tcp::Connect::CONSTRUCTOR_ID) => return Tcp::Connect,
        Some(types::tcp::Connected::CONSTRUCTOR_ID) => return Tcp::Connected,
        _ => {}
    }
    match from_bytes::<enums::tcp::Packet>(payload).expect("a tcp.Packet") {
        enums::tcp::Packet::Ping(_) => Tcp::Ping,
        enums::tcp::Packet::Pong(_) => Tcp::Pong,
        enums::tcp::Packet::Packet(p) => Tcp::Packet(p.data),
        enums::tcp::Packet::Query(q) => Tcp::Query(q.id, q.data),
        enums::tcp::Packet::QueryAnswer(a) => Tcp::Answer(a.id, a.data),
        enums::tcp::Packet::QueryError(e) => Tcp::Error(e.id, e.code, e.message),
        #[allow(unreachable_patterns)]
        other => panic!("unexpected tcp packet {other:?}"),
    }
}

/// What a query got back.
pub type Reply = Result<Vec<u8>, (i32, String)>;

impl Transcript {
    /// The frames `from` sent, at the `tcp.*` layer.
    pub fn frames(&self, from: &str) -> Vec<Tcp> {
        self.units
            .iter()
            .filter(|u| u.kind == Kind::Frame && u.from == from)
            .map(|u| tcp(&u.bytes))
            .collect()
    }

    /// The one-way application messages `from` sent, in order.
    pub fn packets(&self, from: &str) -> Vec<Vec<u8>> {
        self.frames(from)
            .into_iter()
            .filter_map(|f| match f {
                Tcp::Packet(data) => Some(data),
                _ => None,
            })
            .collect()
    }

    /// The queries `from` sent, in order, each with the other side's reply.
    pub fn exchanges(&self, from: &str) -> Vec<(Vec<u8>, Reply)> {
        let replies: Vec<(i64, Reply)> = self
            .units
            .iter()
            .filter(|u| u.kind == Kind::Frame && u.from != from)
            .filter_map(|u| match tcp(&u.bytes) {
                Tcp::Answer(id, data) => Some((id, Ok(data))),
                Tcp::Error(id, code, message) => Some((id, Err((code, message)))),
                _ => None,
            })
            .collect();
        self.frames(from)
            .into_iter()
            .filter_map(|f| match f {
                Tcp::Query(id, data) => {
                    let reply = replies
                        .iter()
                        .find(|(rid, _)| *rid == id)
                        .map(|(_, r)| r.clone())
                        .unwrap_or_else(|| {
                            panic!("{}: query {id} unanswered", self.path.display())
                        });
                    Some((data, reply))
                }
                _ => None,
            })
            .collect()
    }

    /// The first exchange whose query is the function with `id`.
    pub fn exchange(&self, from: &str, id: u32) -> (Vec<u8>, Reply) {
        self.exchanges(from)
            .into_iter()
            .find(|(q, _)| peek_constructor_id(q) == Some(id))
            .unwrap_or_else(|| panic!("{}: no query {id:#x} from {from}", self.path.display()))
    }
}
