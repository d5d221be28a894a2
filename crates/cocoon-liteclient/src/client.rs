//! The multi-liteserver client: masterchain agreement by quorum, and account states,
//! transactions and external messages served by whichever liteserver answers correctly,
//! with timeouts on every connect and query, rotation and per-server backoff.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::time::Instant;

use crate::account::{parse_account, AccountState, AccountStatus};
use crate::boc::parse_single_root;
use crate::config::{GlobalConfig, LiteServerEntry};
use crate::connection::{Connection, Connector, QueryError, TcpConnector};
use crate::proof::{check_account_state, check_block_header_info, is_complete, ProofError};
use crate::tl::{AccountId, BlockIdExt, LiteQuery, LiteRequest, LiteResponse};

mod quorum;
mod transactions;

/// Most transactions asked for in one `getTransactions` (liteservers cap it at 16).
pub const MAX_TRANSACTIONS_PER_QUERY: u32 = 16;

/// Tunables of [`LiteClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// TCP connect plus ADNL handshake.
    pub connect_timeout: Duration,
    /// One query on an open connection (including waiting for the server to catch up).
    pub query_timeout: Duration,
    /// Liteservers that must agree on a masterchain block before it is trusted.
    pub quorum: usize,
    /// Passes over all servers before an operation gives up.
    pub rounds: usize,
    /// Delay after the first failed pass; doubles each pass up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(10),
            quorum: 2,
            rounds: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// Why a client operation failed.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no liteserver configured")]
    NoServers,
    #[error("every liteserver failed: {}", summarize(.0))]
    AllServersFailed(Vec<(String, QueryError)>),
    #[error("no masterchain block agreed by {quorum} liteservers: {detail}")]
    NoQuorum { quorum: usize, detail: String },
    #[error("invalid input: {0}")]
    Input(String),
}

fn summarize(errors: &[(String, QueryError)]) -> String {
    errors
        .iter()
        .map(|(s, e)| format!("{s}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

struct Health {
    failures: u32,
    retry_after: Option<Instant>,
}

struct Server {
    entry: LiteServerEntry,
    idle: Mutex<Option<Connection>>,
    health: Mutex<Health>,
}

/// A liteserver client over several servers (see the crate docs for what it trusts).
pub struct LiteClient {
    servers: Vec<Server>,
    connector: Arc<dyn Connector>,
    options: ClientOptions,
    quorum: usize,
    config: GlobalConfig,
    agreed: Mutex<Option<BlockIdExt>>,
    next_server: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LiteClient {
    /// A client over TCP to the config's liteservers.
    pub fn new(config: GlobalConfig, options: ClientOptions) -> Result<Self, ClientError> {
        Self::with_connector(config, options, Arc::new(TcpConnector))
    }

    /// A client whose streams come from `connector` (tests use the mock's in-memory network).
    pub fn with_connector(
        config: GlobalConfig,
        options: ClientOptions,
        connector: Arc<dyn Connector>,
    ) -> Result<Self, ClientError> {
        if config.liteservers.is_empty() {
            return Err(ClientError::NoServers);
        }
        let quorum = options.quorum.clamp(1, config.liteservers.len());
        if quorum < options.quorum.max(1) {
            tracing::warn!(
                configured = options.quorum,
                servers = config.liteservers.len(),
                "fewer liteservers than the quorum: masterchain blocks are trusted on {quorum} server(s) alone"
            );
        }
        let servers = config
            .liteservers
            .iter()
            .map(|entry| Server {
                entry: entry.clone(),
                idle: Mutex::new(None),
                health: Mutex::new(Health {
                    failures: 0,
                    retry_after: None,
                }),
            })
            .collect();
        Ok(Self {
            servers,
            connector,
            options,
            quorum,
            config,
            agreed: Mutex::new(None),
            next_server: AtomicUsize::new(0),
        })
    }

    /// The quorum in force (the configured one, lowered to the number of servers).
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The last masterchain block agreed by the quorum, if any.
    pub fn last_agreed_block(&self) -> Option<BlockIdExt> {
        *lock(&self.agreed)
    }

    /// One query to server `index`, with connect and query timeouts. A connection is reused
    /// only after a query on it completed.
    async fn query_server(
        &self,
        index: usize,
        query: &LiteQuery,
    ) -> Result<LiteResponse, QueryError> {
        let server = self.servers.get(index).ok_or(QueryError::Closed)?;
        let cached = lock(&server.idle).take();
        let mut conn = match cached {
            Some(conn) => conn,
            None => tokio::time::timeout(
                self.options.connect_timeout,
                Connection::open(&self.connector, &server.entry),
            )
            .await
            .map_err(|_| QueryError::Timeout)??,
        };
        let answer = tokio::time::timeout(self.options.query_timeout, conn.query(query))
            .await
            .map_err(|_| QueryError::Timeout)?;
        if matches!(answer, Ok(_) | Err(QueryError::Server { .. })) {
            *lock(&server.idle) = Some(conn);
        }
        answer
    }

    fn mark(&self, index: usize, result: Result<(), &QueryError>) {
        let Some(server) = self.servers.get(index) else {
            return;
        };
        let mut health = lock(&server.health);
        match result {
            Ok(()) => {
                *health = Health {
                    failures: 0,
                    retry_after: None,
                }
            }
            Err(error) => {
                health.failures = health.failures.saturating_add(1);
                let factor = 1u32 << health.failures.min(16);
                let delay = self
                    .options
                    .backoff_base
                    .saturating_mul(factor)
                    .min(self.options.backoff_max);
                health.retry_after = Some(Instant::now() + delay);
                tracing::warn!(server = %server.entry.addr, %error, failures = health.failures, "liteserver query failed");
            }
        }
    }

    /// Servers in the order to try: rotating start, servers in backoff last.
    fn order(&self) -> Vec<usize> {
        let n = self.servers.len();
        let start = self.next_server.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let mut order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        order.sort_by_key(|i| {
            self.servers
                .get(*i)
                .and_then(|s| lock(&s.health).retry_after)
                .is_some_and(|t| t > now)
        });
        order
    }

    /// Runs `query` on one server after another until `check` accepts an answer.
    pub(crate) async fn with_rotation<T>(
        &self,
        query: &LiteQuery,
        check: impl Fn(LiteResponse) -> Result<T, QueryError>,
    ) -> Result<T, ClientError> {
        let mut errors = Vec::new();
        for round in 0..self.options.rounds.max(1) {
            if round > 0 {
                let factor = 1u32 << (round - 1).min(16);
                let delay = self
                    .options
                    .backoff_base
                    .saturating_mul(factor)
                    .min(self.options.backoff_max);
                tokio::time::sleep(delay).await;
            }
            for index in self.order() {
                let result = self.query_server(index, query).await.and_then(&check);
                match result {
                    Ok(value) => {
                        self.mark(index, Ok(()));
                        return Ok(value);
                    }
                    Err(error) => {
                        self.mark(index, Err(&error));
                        let name = self
                            .servers
                            .get(index)
                            .map(|s| s.entry.addr.to_string())
                            .unwrap_or_default();
                        errors.push((name, error));
                    }
                }
            }
        }
        Err(ClientError::AllServersFailed(errors))
    }

    /// The agreed block, syncing first when there is none yet.
    async fn agreed_or_sync(&self) -> Result<BlockIdExt, ClientError> {
        match self.last_agreed_block() {
            Some(block) => Ok(block),
            None => self.sync().await,
        }
    }

    fn wait_prefix(&self, block: &BlockIdExt) -> Option<(u32, u32)> {
        let ms = u32::try_from(self.options.query_timeout.as_millis() / 2).unwrap_or(u32::MAX);
        Some((block.seqno, ms))
    }

    /// The account's state at the last agreed masterchain block, checked against its proofs.
    pub async fn account_state(&self, address: &AccountId) -> Result<AccountState, ClientError> {
        let mc_block = self.agreed_or_sync().await?;
        let query = LiteQuery {
            wait_masterchain_seqno: self.wait_prefix(&mc_block),
            request: LiteRequest::GetAccountState {
                block: mc_block,
                account: *address,
            },
        };
        self.with_rotation(&query, |response| {
            verify_account_state(&mc_block, address, response)
        })
        .await
    }

    /// The generation time of masterchain block `block` (normally the agreed one), read
    /// from a header proof checked against its root hash: the chain's clock, not ours.
    pub async fn block_utime(&self, block: &BlockIdExt) -> Result<u32, ClientError> {
        let query = LiteQuery {
            wait_masterchain_seqno: None,
            request: LiteRequest::LookupMasterchainBlock { seqno: block.seqno },
        };
        self.with_rotation(&query, |response| {
            let LiteResponse::BlockHeader {
                id, header_proof, ..
            } = response
            else {
                return Err(unexpected(&response));
            };
            if id != *block {
                return Err(QueryError::Unexpected(format!(
                    "header of {id}, asked for {block}"
                )));
            }
            let proof = parse_single_root(&header_proof).map_err(ProofError::from)?;
            let (_, info) = check_block_header_info(&proof, block)?;
            Ok(info.gen_utime)
        })
        .await
    }

    /// Sends an external message (a BoC with one root). Returns the liteserver's status.
    pub async fn send_message(&self, boc: &[u8]) -> Result<i32, ClientError> {
        parse_single_root(boc)
            .map_err(|e| ClientError::Input(format!("message is not a one-root BoC: {e}")))?;
        let query = LiteQuery {
            wait_masterchain_seqno: None,
            request: LiteRequest::SendMessage { body: boc.to_vec() },
        };
        self.with_rotation(&query, |response| match response {
            LiteResponse::SendMsgStatus { status } => Ok(status),
            other => Err(unexpected(&other)),
        })
        .await
    }
}

pub(crate) fn unexpected(response: &LiteResponse) -> QueryError {
    let name = match response {
        LiteResponse::MasterchainInfo { .. } => "masterchainInfo",
        LiteResponse::BlockHeader { .. } => "blockHeader",
        LiteResponse::AccountState { .. } => "accountState",
        LiteResponse::TransactionList { .. } => "transactionList",
        LiteResponse::SendMsgStatus { .. } => "sendMsgStatus",
        LiteResponse::Error { .. } => "error",
    };
    QueryError::Unexpected(name.into())
}

fn verify_account_state(
    mc_block: &BlockIdExt,
    address: &AccountId,
    response: LiteResponse,
) -> Result<AccountState, QueryError> {
    let LiteResponse::AccountState {
        id,
        shardblk,
        shard_proof,
        proof,
        state,
    } = response
    else {
        return Err(unexpected(&response));
    };
    if id != *mc_block {
        return Err(QueryError::Unexpected(format!(
            "account state for block {id}, asked {mc_block}"
        )));
    }
    let root = if state.is_empty() {
        None
    } else {
        Some(parse_single_root(&state).map_err(ProofError::from)?)
    };
    if let Some(root) = &root {
        if !is_complete(root) {
            return Err(QueryError::Unexpected(
                "account state contains pruned cells".into(),
            ));
        }
    }
    let proven = check_account_state(
        mc_block,
        &shardblk,
        address,
        &shard_proof,
        &proof,
        root.as_ref(),
    )?;
    let (status, balance, code, data) = match &root {
        Some(cell) => {
            let fields = parse_account(cell, address).map_err(ProofError::from)?;
            (fields.status, fields.balance, fields.code, fields.data)
        }
        None => (AccountStatus::Nonexistent, 0, None, None),
    };
    Ok(AccountState {
        address: *address,
        mc_block: *mc_block,
        shard_block: shardblk,
        status,
        balance,
        code,
        data,
        last_trans_lt: proven.last_trans_lt,
        last_trans_hash: proven.last_trans_hash,
        account_cell: root,
    })
}
