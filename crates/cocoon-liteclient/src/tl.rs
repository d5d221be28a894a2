//! The subset of the TON `lite_api` / ADNL-TCP TL schema this client speaks, written by hand
//! with bounded decoding (every length is checked against the bytes actually present, vectors
//! are capped) so that a liteserver's bytes can never make us panic or over-allocate.
//!
//! Both directions are implemented: the client encodes queries and decodes answers, the mock
//! liteserver ([`crate::mock`]) decodes queries and encodes answers.

use thiserror::Error;

mod codec;
pub use codec::{TlReader, TlWriter};

/// TL constructor ids (CRC32 of the schema line; checked in this module's tests).
pub mod ids {
    pub const ADNL_MESSAGE_QUERY: u32 = 0xb48b_f97a;
    pub const ADNL_MESSAGE_ANSWER: u32 = 0x0fac_8416;
    pub const TCP_PING: u32 = 0x4d08_2b9a;
    pub const TCP_PONG: u32 = 0xdc69_fb03;
    pub const LITE_QUERY: u32 = 0x798c_06df;
    pub const WAIT_MASTERCHAIN_SEQNO: u32 = 0xbaea_b892;
    pub const GET_MASTERCHAIN_INFO: u32 = 0x89b5_e62e;
    pub const LOOKUP_BLOCK: u32 = 0xfac8_f71e;
    pub const GET_ACCOUNT_STATE: u32 = 0x6b89_0e25;
    pub const GET_TRANSACTIONS: u32 = 0x1c40_e7a1;
    pub const SEND_MESSAGE: u32 = 0x690a_d482;
    pub const MASTERCHAIN_INFO: u32 = 0x8583_2881;
    pub const BLOCK_HEADER: u32 = 0x752d_8219;
    pub const ACCOUNT_STATE: u32 = 0x7079_c751;
    pub const TRANSACTION_LIST: u32 = 0x6f26_c60b;
    pub const SEND_MSG_STATUS: u32 = 0x3950_e597;
    pub const ERROR: u32 = 0xbba9_e148;
}

/// Shard id of the whole masterchain (and of an unsplit workchain).
pub const SHARD_FULL: u64 = 0x8000_0000_0000_0000;
/// Workchain id of the masterchain.
pub const MASTERCHAIN: i32 = -1;
/// Most block ids we accept in one `transactionList` (liteservers return at most 16 per call).
pub const MAX_LIST_IDS: usize = 256;

/// A TL decoding failure.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TlError {
    #[error("TL data ends early")]
    Truncated,
    #[error("unexpected TL constructor {0:#010x}")]
    UnknownConstructor(u32),
    #[error("invalid TL bytes length prefix")]
    BadBytesPrefix,
    #[error("TL vector of {0} elements is larger than allowed")]
    VectorTooLong(u32),
    #[error("{0} trailing bytes after TL object")]
    TrailingBytes(usize),
    #[error("unsupported lookupBlock mode {0:#x}")]
    UnsupportedMode(u32),
}

/// `tonNode.blockIdExt`: a block's full identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockIdExt {
    pub workchain: i32,
    pub shard: u64,
    pub seqno: u32,
    pub root_hash: [u8; 32],
    pub file_hash: [u8; 32],
}

impl std::fmt::Display for BlockIdExt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "({},{:016x},{}):{}:{}",
            self.workchain,
            self.shard,
            self.seqno,
            hex::encode(self.root_hash),
            hex::encode(self.file_hash)
        )
    }
}

/// `tonNode.zeroStateIdExt`: the network's zero state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroStateIdExt {
    pub workchain: i32,
    pub root_hash: [u8; 32],
    pub file_hash: [u8; 32],
}

/// `liteServer.accountId`: a raw account address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId {
    pub workchain: i32,
    pub id: [u8; 32],
}

/// The requests this client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteRequest {
    GetMasterchainInfo,
    /// `lookupBlock` of a masterchain block by seqno (mode 1).
    LookupMasterchainBlock {
        seqno: u32,
    },
    GetAccountState {
        block: BlockIdExt,
        account: AccountId,
    },
    GetTransactions {
        count: u32,
        account: AccountId,
        lt: u64,
        hash: [u8; 32],
    },
    SendMessage {
        body: Vec<u8>,
    },
}

/// A whole `liteServer.query` payload: optional wait prefix plus the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteQuery {
    /// `liteServer.waitMasterchainSeqno seqno timeout_ms`, when present.
    pub wait_masterchain_seqno: Option<(u32, u32)>,
    pub request: LiteRequest,
}

/// The answers this client understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteResponse {
    MasterchainInfo {
        last: BlockIdExt,
        state_root_hash: [u8; 32],
        init: ZeroStateIdExt,
    },
    BlockHeader {
        id: BlockIdExt,
        mode: u32,
        header_proof: Vec<u8>,
    },
    AccountState {
        id: BlockIdExt,
        shardblk: BlockIdExt,
        shard_proof: Vec<u8>,
        proof: Vec<u8>,
        state: Vec<u8>,
    },
    TransactionList {
        ids: Vec<BlockIdExt>,
        transactions: Vec<u8>,
    },
    SendMsgStatus {
        status: i32,
    },
    /// `liteServer.error`; the message is decoded lossily (it is peer text).
    Error {
        code: i32,
        message: String,
    },
}

/// ADNL-over-TCP datagram payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdnlMessage {
    Query { query_id: [u8; 32], query: Vec<u8> },
    Answer { query_id: [u8; 32], answer: Vec<u8> },
    Ping { random_id: u64 },
    Pong { random_id: u64 },
}

impl LiteQuery {
    /// The `liteServer.query data:bytes` object, ready to go in an ADNL query.
    pub fn encode(&self) -> Vec<u8> {
        let mut inner = TlWriter::default();
        if let Some((seqno, timeout_ms)) = self.wait_masterchain_seqno {
            inner
                .u32(ids::WAIT_MASTERCHAIN_SEQNO)
                .u32(seqno)
                .u32(timeout_ms);
        }
        match &self.request {
            LiteRequest::GetMasterchainInfo => {
                inner.u32(ids::GET_MASTERCHAIN_INFO);
            }
            LiteRequest::LookupMasterchainBlock { seqno } => {
                inner
                    .u32(ids::LOOKUP_BLOCK)
                    .u32(1)
                    .i32(MASTERCHAIN)
                    .u64(SHARD_FULL)
                    .u32(*seqno);
            }
            LiteRequest::GetAccountState { block, account } => {
                inner
                    .u32(ids::GET_ACCOUNT_STATE)
                    .block_id_ext(block)
                    .account_id(account);
            }
            LiteRequest::GetTransactions {
                count,
                account,
                lt,
                hash,
            } => {
                inner
                    .u32(ids::GET_TRANSACTIONS)
                    .u32(*count)
                    .account_id(account)
                    .u64(*lt);
                inner.int256(hash);
            }
            LiteRequest::SendMessage { body } => {
                inner.u32(ids::SEND_MESSAGE).bytes(body);
            }
        }
        let mut outer = TlWriter::default();
        outer.u32(ids::LITE_QUERY).bytes(&inner.out);
        outer.out
    }

    /// Decodes a `liteServer.query` object (used by the mock liteserver).
    pub fn decode(data: &[u8]) -> Result<Self, TlError> {
        let mut outer = TlReader::new(data);
        match outer.u32()? {
            ids::LITE_QUERY => {}
            other => return Err(TlError::UnknownConstructor(other)),
        }
        let inner_bytes = outer.bytes()?;
        outer.finish()?;
        let mut r = TlReader::new(inner_bytes);
        let mut id = r.u32()?;
        let mut wait = None;
        if id == ids::WAIT_MASTERCHAIN_SEQNO {
            wait = Some((r.u32()?, r.u32()?));
            id = r.u32()?;
        }
        let request = match id {
            ids::GET_MASTERCHAIN_INFO => LiteRequest::GetMasterchainInfo,
            ids::LOOKUP_BLOCK => {
                let mode = r.u32()?;
                let (workchain, shard, seqno) = (r.i32()?, r.u64()?, r.u32()?);
                if mode != 1 || workchain != MASTERCHAIN || shard != SHARD_FULL {
                    return Err(TlError::UnsupportedMode(mode));
                }
                LiteRequest::LookupMasterchainBlock { seqno }
            }
            ids::GET_ACCOUNT_STATE => LiteRequest::GetAccountState {
                block: r.block_id_ext()?,
                account: r.account_id()?,
            },
            ids::GET_TRANSACTIONS => LiteRequest::GetTransactions {
                count: r.u32()?,
                account: r.account_id()?,
                lt: r.u64()?,
                hash: r.int256()?,
            },
            ids::SEND_MESSAGE => LiteRequest::SendMessage {
                body: r.bytes()?.to_vec(),
            },
            other => return Err(TlError::UnknownConstructor(other)),
        };
        r.finish()?;
        Ok(Self {
            wait_masterchain_seqno: wait,
            request,
        })
    }
}

impl LiteResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = TlWriter::default();
        match self {
            Self::MasterchainInfo {
                last,
                state_root_hash,
                init,
            } => {
                w.u32(ids::MASTERCHAIN_INFO)
                    .block_id_ext(last)
                    .int256(state_root_hash);
                w.i32(init.workchain)
                    .int256(&init.root_hash)
                    .int256(&init.file_hash);
            }
            Self::BlockHeader {
                id,
                mode,
                header_proof,
            } => {
                w.u32(ids::BLOCK_HEADER)
                    .block_id_ext(id)
                    .u32(*mode)
                    .bytes(header_proof);
            }
            Self::AccountState {
                id,
                shardblk,
                shard_proof,
                proof,
                state,
            } => {
                w.u32(ids::ACCOUNT_STATE)
                    .block_id_ext(id)
                    .block_id_ext(shardblk);
                w.bytes(shard_proof).bytes(proof).bytes(state);
            }
            Self::TransactionList {
                ids: list,
                transactions,
            } => {
                w.u32(ids::TRANSACTION_LIST).u32(list.len() as u32);
                for id in list {
                    w.block_id_ext(id);
                }
                w.bytes(transactions);
            }
            Self::SendMsgStatus { status } => {
                w.u32(ids::SEND_MSG_STATUS).i32(*status);
            }
            Self::Error { code, message } => {
                w.u32(ids::ERROR).i32(*code).bytes(message.as_bytes());
            }
        }
        w.out
    }

    pub fn decode(data: &[u8]) -> Result<Self, TlError> {
        let mut r = TlReader::new(data);
        let out = match r.u32()? {
            ids::MASTERCHAIN_INFO => Self::MasterchainInfo {
                last: r.block_id_ext()?,
                state_root_hash: r.int256()?,
                init: ZeroStateIdExt {
                    workchain: r.i32()?,
                    root_hash: r.int256()?,
                    file_hash: r.int256()?,
                },
            },
            ids::BLOCK_HEADER => Self::BlockHeader {
                id: r.block_id_ext()?,
                mode: r.u32()?,
                header_proof: r.bytes()?.to_vec(),
            },
            ids::ACCOUNT_STATE => Self::AccountState {
                id: r.block_id_ext()?,
                shardblk: r.block_id_ext()?,
                shard_proof: r.bytes()?.to_vec(),
                proof: r.bytes()?.to_vec(),
                state: r.bytes()?.to_vec(),
            },
            ids::TRANSACTION_LIST => {
                let count = r.u32()?;
                if count as usize > MAX_LIST_IDS {
                    return Err(TlError::VectorTooLong(count));
                }
                let mut list = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    list.push(r.block_id_ext()?);
                }
                Self::TransactionList {
                    ids: list,
                    transactions: r.bytes()?.to_vec(),
                }
            }
            ids::SEND_MSG_STATUS => Self::SendMsgStatus { status: r.i32()? },
            ids::ERROR => Self::Error {
                code: r.i32()?,
                message: String::from_utf8_lossy(r.bytes()?).into_owned(),
            },
            other => return Err(TlError::UnknownConstructor(other)),
        };
        r.finish()?;
        Ok(out)
    }
}

impl AdnlMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = TlWriter::default();
        match self {
            Self::Query { query_id, query } => {
                w.u32(ids::ADNL_MESSAGE_QUERY).int256(query_id).bytes(query)
            }
            Self::Answer { query_id, answer } => w
                .u32(ids::ADNL_MESSAGE_ANSWER)
                .int256(query_id)
                .bytes(answer),
            Self::Ping { random_id } => w.u32(ids::TCP_PING).u64(*random_id),
            Self::Pong { random_id } => w.u32(ids::TCP_PONG).u64(*random_id),
        };
        w.out
    }

    pub fn decode(data: &[u8]) -> Result<Self, TlError> {
        let mut r = TlReader::new(data);
        let out = match r.u32()? {
            ids::ADNL_MESSAGE_QUERY => Self::Query {
                query_id: r.int256()?,
                query: r.bytes()?.to_vec(),
            },
            ids::ADNL_MESSAGE_ANSWER => Self::Answer {
                query_id: r.int256()?,
                answer: r.bytes()?.to_vec(),
            },
            ids::TCP_PING => Self::Ping {
                random_id: r.u64()?,
            },
            ids::TCP_PONG => Self::Pong {
                random_id: r.u64()?,
            },
            other => return Err(TlError::UnknownConstructor(other)),
        };
        r.finish()?;
        Ok(out)
    }
}

#[cfg(test)]
#[path = "tl_tests.rs"]
mod tests;
