//! A mock liteserver for tests (cargo feature `mock`): real ADNL handshake and lite_api
//! framing, answering from SIMULATED chain data the test supplies ([`MockChain`]), over TCP
//! on localhost or over an in-memory [`MockNetwork`] (which works with a paused tokio clock).
//!
//! Each server can be told to stall (never answer), stall the handshake, fail (answer
//! `liteServer.error`), or serve a different chain (disagree). It records the external
//! messages it receives.

mod chain;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use adnl::crypto::{KeyPair, SecretKey};
use adnl::AdnlPeer;
use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

pub use chain::{
    merkle_proof, pruned, BuiltChain, BuiltTransaction, MockAccount, MockChain, MockTransactionSpec,
};

use crate::boc::serialize_boc;
use crate::config::LiteServerEntry;
use crate::connection::{BoxedStream, ConnectFuture, Connector};
use crate::tl::{AdnlMessage, LiteQuery, LiteRequest, LiteResponse, ZeroStateIdExt};

/// How a mock server currently behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockBehavior {
    Normal,
    /// Completes the handshake, then never answers a query.
    Stall,
    /// Accepts connections but never completes the handshake.
    StallHandshake,
    /// Answers every query with `liteServer.error`.
    Fail {
        code: i32,
        message: String,
    },
    /// Answers account states with a balance that does not match the proofs.
    TamperAccountState,
}

/// The zero state every mock server reports.
pub const MOCK_ZERO_STATE: ZeroStateIdExt = ZeroStateIdExt {
    workchain: -1,
    root_hash: [0x5a; 32],
    file_hash: [0xa5; 32],
};

struct MockShared {
    keypair: KeyPair,
    behavior: MockBehavior,
    /// Built chain states by masterchain seqno; the highest is the server's "last".
    history: BTreeMap<u32, Arc<BuiltChain>>,
    sent: Vec<Vec<u8>>,
    queries: usize,
}

/// A handle to one mock liteserver (cheap to clone).
#[derive(Clone)]
pub struct MockLiteServer {
    shared: Arc<Mutex<MockShared>>,
}

fn lock(m: &Mutex<MockShared>) -> std::sync::MutexGuard<'_, MockShared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MockLiteServer {
    /// A server with a key derived from `key_seed`, serving `chain`.
    pub fn new(key_seed: u8, chain: &MockChain) -> Result<Self, String> {
        let keypair = KeyPair::from(&SecretKey::from_bytes([key_seed; 32]));
        let server = Self {
            shared: Arc::new(Mutex::new(MockShared {
                keypair,
                behavior: MockBehavior::Normal,
                history: BTreeMap::new(),
                sent: Vec::new(),
                queries: 0,
            })),
        };
        server.push_chain(chain)?;
        Ok(server)
    }

    /// The server's ADNL public key.
    pub fn public_key(&self) -> [u8; 32] {
        lock(&self.shared).keypair.public_key.to_bytes()
    }

    pub fn set_behavior(&self, behavior: MockBehavior) {
        lock(&self.shared).behavior = behavior;
    }

    /// Adds (or replaces, for the same seqno) a chain state; the highest seqno is "last".
    pub fn push_chain(&self, chain: &MockChain) -> Result<Arc<BuiltChain>, String> {
        let built = Arc::new(chain.build().map_err(|e| e.to_string())?);
        lock(&self.shared)
            .history
            .insert(chain.mc_seqno, built.clone());
        Ok(built)
    }

    /// External messages received so far.
    pub fn sent_messages(&self) -> Vec<Vec<u8>> {
        lock(&self.shared).sent.clone()
    }

    /// Queries received so far.
    pub fn query_count(&self) -> usize {
        lock(&self.shared).queries
    }

    /// Listens on 127.0.0.1 (random port); returns the config entry to reach it.
    pub async fn serve_tcp(&self) -> std::io::Result<LiteServerEntry> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let server = self.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve_stream(socket));
            }
        });
        Ok(LiteServerEntry {
            addr,
            public_key: self.public_key(),
        })
    }

    /// Serves one connection until it closes.
    pub async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin + Send>(self, stream: S) {
        let keypair = lock(&self.shared).keypair;
        if lock(&self.shared).behavior == MockBehavior::StallHandshake {
            // Hold the stream open and never answer.
            let _held = stream;
            return std::future::pending::<()>().await;
        }
        let Ok(mut peer) = AdnlPeer::handle_handshake(stream, |_| Some(keypair)).await else {
            return;
        };
        while let Some(Ok(frame)) = peer.next().await {
            let reply = match AdnlMessage::decode(&frame) {
                Ok(AdnlMessage::Ping { random_id }) => Some(AdnlMessage::Pong { random_id }),
                Ok(AdnlMessage::Query { query_id, query }) => {
                    self.answer(&query).map(|answer| AdnlMessage::Answer {
                        query_id,
                        answer: answer.encode(),
                    })
                }
                _ => return,
            };
            if let Some(reply) = reply {
                if peer.send(Bytes::from(reply.encode())).await.is_err() {
                    return;
                }
            }
        }
    }

    fn answer(&self, query: &[u8]) -> Option<LiteResponse> {
        let mut shared = lock(&self.shared);
        shared.queries += 1;
        match &shared.behavior {
            MockBehavior::Stall | MockBehavior::StallHandshake => return None,
            MockBehavior::Fail { code, message } => {
                return Some(LiteResponse::Error {
                    code: *code,
                    message: message.clone(),
                })
            }
            MockBehavior::Normal | MockBehavior::TamperAccountState => {}
        }
        let tamper = shared.behavior == MockBehavior::TamperAccountState;
        let query = match LiteQuery::decode(query) {
            Ok(q) => q,
            Err(e) => return Some(error(400, format!("bad query: {e}"))),
        };
        Some(answer_request(&mut shared, query.request, tamper).unwrap_or_else(|e| error(651, e)))
    }
}

fn error(code: i32, message: String) -> LiteResponse {
    LiteResponse::Error { code, message }
}

fn boc(roots: &[tonlib_core::cell::ArcCell]) -> Result<Vec<u8>, String> {
    serialize_boc(roots).map_err(|e| e.to_string())
}

fn proof_of(cell: &tonlib_core::cell::ArcCell) -> Result<tonlib_core::cell::ArcCell, String> {
    merkle_proof(cell).map_err(|e| e.to_string())
}

fn answer_request(
    shared: &mut MockShared,
    request: LiteRequest,
    tamper: bool,
) -> Result<LiteResponse, String> {
    let last = shared
        .history
        .values()
        .next_back()
        .cloned()
        .ok_or("no chain")?;
    match request {
        LiteRequest::GetMasterchainInfo => Ok(LiteResponse::MasterchainInfo {
            last: last.mc_block,
            state_root_hash: last.mc_state_cell.get_hash(0).into(),
            init: MOCK_ZERO_STATE,
        }),
        LiteRequest::LookupMasterchainBlock { seqno } => {
            let chain = shared.history.get(&seqno).ok_or("block not found")?;
            Ok(LiteResponse::BlockHeader {
                id: chain.mc_block,
                mode: 0,
                header_proof: boc(&[proof_of(&chain.mc_block_cell)?])?,
            })
        }
        LiteRequest::GetAccountState { block, account } => {
            let chain = shared
                .history
                .values()
                .find(|c| c.mc_block == block)
                .ok_or("block not found")?;
            let masterchain = account.workchain == crate::tl::MASTERCHAIN;
            let (shardblk, block_cell, state_cell) = if masterchain {
                (chain.mc_block, &chain.mc_block_cell, &chain.mc_state_cell)
            } else {
                (
                    chain.shard_block,
                    &chain.shard_block_cell,
                    &chain.shard_state_cell,
                )
            };
            let shard_proof = if masterchain {
                Vec::new()
            } else {
                boc(&[
                    proof_of(&chain.mc_block_cell)?,
                    proof_of(&chain.mc_state_cell)?,
                ])?
            };
            let proof = boc(&[proof_of(block_cell)?, proof_of(state_cell)?])?;
            let state = match chain.accounts.get(&account) {
                Some((cell, _)) if tamper => boc(&[tampered(cell)?])?,
                Some((cell, _)) => boc(std::slice::from_ref(cell))?,
                None => Vec::new(),
            };
            Ok(LiteResponse::AccountState {
                id: block,
                shardblk,
                shard_proof,
                proof,
                state,
            })
        }
        LiteRequest::GetTransactions {
            count,
            account,
            lt,
            hash,
        } => {
            let chain = &last;
            let (_, txs) = chain
                .accounts
                .get(&account)
                .ok_or("account has no transactions")?;
            let start = txs
                .iter()
                .position(|t| t.lt == lt && t.hash == hash)
                .ok_or("transaction not found")?;
            let picked: Vec<_> = txs[..=start]
                .iter()
                .rev()
                .take(count.min(16) as usize)
                .map(|t| t.cell.clone())
                .collect();
            Ok(LiteResponse::TransactionList {
                ids: vec![chain.shard_block; picked.len()],
                transactions: boc(&picked)?,
            })
        }
        LiteRequest::SendMessage { body } => {
            shared.sent.push(body);
            Ok(LiteResponse::SendMsgStatus { status: 1 })
        }
    }
}

/// The same account cell with its balance changed (breaks the proof).
fn tampered(cell: &tonlib_core::cell::ArcCell) -> Result<tonlib_core::cell::ArcCell, String> {
    let mut data = cell.data().to_vec();
    if let Some(last) = data.last_mut() {
        *last ^= 0x80;
    }
    let mut b = tonlib_core::cell::CellBuilder::new();
    b.store_bits(cell.bit_len(), &data)
        .map_err(|e| e.to_string())?;
    b.store_references(cell.references())
        .map_err(|e| e.to_string())?;
    Ok(b.build().map_err(|e| e.to_string())?.to_arc())
}

/// An in-memory network of mock servers, usable as the client's [`Connector`].
#[derive(Clone, Default)]
pub struct MockNetwork {
    servers: Arc<Mutex<HashMap<SocketAddr, MockLiteServer>>>,
}

impl MockNetwork {
    /// Registers `server` under a made-up address 10.0.0.`n`:4924; returns its entry.
    pub fn add(&self, n: u8, server: &MockLiteServer) -> LiteServerEntry {
        let addr = SocketAddr::from(([10, 0, 0, n], 4924));
        self.servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, server.clone());
        LiteServerEntry {
            addr,
            public_key: server.public_key(),
        }
    }
}

impl Connector for MockNetwork {
    fn connect(&self, entry: &LiteServerEntry) -> ConnectFuture {
        let server = self
            .servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&entry.addr)
            .cloned();
        Box::pin(async move {
            let server = server
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::ConnectionRefused))?;
            let (client, remote) = tokio::io::duplex(1 << 20);
            tokio::spawn(server.serve_stream(remote));
            Ok(Box::new(client) as BoxedStream)
        })
    }
}

/// A TON global config JSON naming `entries` and the mock zero state.
pub fn global_config_json(entries: &[LiteServerEntry]) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let servers: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let ip = match e.addr.ip() {
                std::net::IpAddr::V4(v4) => u32::from(v4) as i32,
                std::net::IpAddr::V6(_) => 0,
            };
            serde_json::json!({"ip": ip, "port": e.addr.port(), "id": {"@type": "pub.ed25519", "key": b64(&e.public_key)}})
        })
        .collect();
    let zero = serde_json::json!({
        "workchain": -1, "shard": i64::MIN, "seqno": 0,
        "root_hash": b64(&MOCK_ZERO_STATE.root_hash), "file_hash": b64(&MOCK_ZERO_STATE.file_hash)
    });
    serde_json::json!({"liteservers": servers, "validator": {"zero_state": zero}}).to_string()
}
