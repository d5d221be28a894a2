//! One refresh round: block, root (when due), our wallet (transactions before state, as the
//! wallet sender expects), watched contracts (proxy transactions for `save_state` and client
//! registrations), then the
//! wallet sender's next external message. Chain calls run without any lock held; results
//! are applied to the snapshot afterwards.

use cocoon_ledger::boc;
use cocoon_ledger::ledger::{ClientRegistration, SavedState, REGISTRATIONS_KEPT};
use tonlib_core::TonAddress;

use super::snapshot::{MessageStatus, Parsed, WalletView, WatchKind, SAVED_STATES_KEPT};
use super::{RefreshReport, Shared};
use crate::chain::{with_timeout, AccountSnapshot, ChainError, ChainTx, TxId};
use crate::contract_state::{parse_client_state, parse_proxy_state, parse_worker_state};
use crate::messages::{
    parse_proxy_inbound, ClientProxyPayload, ClientProxyRequest, ProxyContractContext, ProxyInbound,
};
use crate::root_state::{parse_root_state, Adoption, MAX_ROOT_DEPTH};
use crate::wallet::{parse_wallet_seqno, PollResult};

/// Transactions asked for per call when walking back.
pub const TX_PAGE: usize = 16;
/// Most pages walked back per account per round (older history is skipped with a warning).
pub const MAX_TX_PAGES: usize = 16;

impl Shared {
    async fn account(&self, address: &TonAddress) -> Result<Option<AccountSnapshot>, ChainError> {
        with_timeout("account", self.call_timeout, self.chain.account(address)).await
    }

    /// Transactions of `address` after `last_seen` up to `newest`, oldest first.
    async fn new_transactions(
        &self,
        address: &TonAddress,
        newest: Option<TxId>,
        last_seen: Option<TxId>,
    ) -> Result<Vec<ChainTx>, ChainError> {
        let mut out = Vec::new();
        let Some(mut cursor) = newest else {
            return Ok(out);
        };
        if Some(cursor) == last_seen {
            return Ok(out);
        }
        'pages: for page_no in 0..MAX_TX_PAGES {
            let page = with_timeout(
                "transactions",
                self.call_timeout,
                self.chain.transactions(address, cursor, TX_PAGE),
            )
            .await?;
            let mut next = None;
            for tx in page {
                if last_seen.is_some_and(|seen| tx.id.lt <= seen.lt) {
                    break 'pages;
                }
                next = tx.prev;
                out.push(tx);
            }
            match next {
                Some(prev) if Some(prev) != last_seen => cursor = prev,
                _ => break,
            }
            if page_no + 1 == MAX_TX_PAGES {
                tracing::warn!(account = %address.to_hex(), "ton ledger: older transactions skipped");
            }
        }
        out.reverse();
        Ok(out)
    }

    pub(super) async fn refresh_round(&self) -> Result<RefreshReport, ChainError> {
        let mut last_root = self.round.lock().await;
        let result = self.round_inner(&mut last_root).await;
        let mut s = self.lock();
        match &result {
            Ok(_) => {
                s.last_success = Some(tokio::time::Instant::now());
                s.last_error = None;
            }
            Err(e) => s.last_error = Some(e.to_string()),
        }
        result
    }

    async fn round_inner(
        &self,
        last_root: &mut Option<tokio::time::Instant>,
    ) -> Result<RefreshReport, ChainError> {
        let mut report = RefreshReport::default();
        let block = with_timeout("last_block", self.call_timeout, self.chain.last_block()).await?;
        self.lock().block = Some(block);
        report.block = Some(block);

        if last_root.is_none_or(|at| at.elapsed() >= self.root_refresh_interval) {
            report.root_adopted = self.refresh_root().await?;
            *last_root = Some(tokio::time::Instant::now());
        }

        self.refresh_wallet(&mut report).await?;

        let proxy_key = self
            .proxy_signing_key
            .as_ref()
            .map(|k| k.verifying_key().to_bytes());
        let now = tokio::time::Instant::now();
        let watched: Vec<(TonAddress, WatchKind, Option<TxId>)> = {
            let s = self.lock();
            let reported = s.reported_contracts(proxy_key.as_ref());
            s.watched
                .iter()
                .filter(|(hex, (_, w))| w.read_due(reported.contains(hex.as_str()), now))
                .map(|(_, (a, w))| (a.clone(), w.kind, w.last_seen_tx))
                .collect()
        };
        report.accounts_read = watched.len();
        for (address, kind, last_seen) in watched {
            if let Err(e) = self.refresh_contract(&address, kind, last_seen).await {
                report
                    .account_errors
                    .push(format!("{}: {e}", address.to_hex()));
                if matches!(e, ChainError::Timeout { .. } | ChainError::Unavailable(_)) {
                    return Err(e);
                }
            }
        }

        self.send_next(block.utime, &mut report).await?;
        Ok(report)
    }

    async fn refresh_root(&self) -> Result<bool, ChainError> {
        let account = self.account(&self.root_address).await?;
        let parsed = match account.and_then(|a| a.data) {
            None => Err("the root contract has no data (not deployed?)".to_string()),
            Some(data) if data.cell_depth() > MAX_ROOT_DEPTH => {
                Err("root data is deeper than accepted".to_string())
            }
            Some(data) => parse_root_state(&data).map_err(|e| e.to_string()),
        };
        let mut s = self.lock();
        let state = match parsed {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(error = %e, "ton ledger: root contract state not usable");
                s.root_error = Some(e);
                return Ok(false);
            }
        };
        match s.root.offer(state) {
            Ok(Adoption::Adopted { params_changed }) => {
                let version = s.root.current().map(|r| r.config.version);
                tracing::info!(?version, params_changed, "ton ledger: root config adopted");
                s.root_error = None;
                Ok(true)
            }
            Ok(Adoption::Ignored { current, offered }) => {
                if offered < current {
                    tracing::warn!(
                        current,
                        offered,
                        "ton ledger: ignoring an older root config"
                    );
                }
                Ok(false)
            }
            Err(e) => {
                tracing::error!(error = %e, "ton ledger: root contract of the wrong network");
                s.root_error = Some(e.to_string());
                Ok(false)
            }
        }
    }

    async fn refresh_wallet(&self, report: &mut RefreshReport) -> Result<(), ChainError> {
        let account = self.account(&self.wallet_address).await?;
        let newest = account.as_ref().and_then(|a| a.last_tx);
        let last_seen = self.lock().wallet_last_tx;
        let txs = self
            .new_transactions(&self.wallet_address, newest, last_seen)
            .await?;
        let seqno = match account.as_ref().and_then(|a| a.data.as_ref()) {
            Some(data) => {
                parse_wallet_seqno(data).map_err(|e| ChainError::Malformed(e.to_string()))?
            }
            None => 0,
        };
        let balance = account.as_ref().map_or(0, |a| a.balance);
        let mut confirmed = Vec::new();
        let requeued = {
            let mut sender = self.lock_sender();
            for tx in &txs {
                if let Some(msg) = tx.in_msg.as_ref().filter(|m| m.source.is_none()) {
                    let tickets = sender.observe_transaction(&boc::cell_hash(&msg.body));
                    confirmed.push((tickets, tx.utime));
                }
            }
            sender.observe_state(seqno, balance)
        };
        let mut s = self.lock();
        for (tickets, utime) in &confirmed {
            s.confirm(tickets, *utime);
            report.confirmed.extend_from_slice(tickets);
        }
        s.set_status(&requeued, MessageStatus::Queued);
        s.wallet = Some(WalletView { seqno, balance });
        if newest.is_some() {
            s.wallet_last_tx = newest;
        }
        Ok(())
    }

    async fn refresh_contract(
        &self,
        address: &TonAddress,
        kind: WatchKind,
        last_seen: Option<TxId>,
    ) -> Result<(), ChainError> {
        let account = self.account(address).await?;
        let newest = account.as_ref().and_then(|a| a.last_tx);
        let txs = if matches!(kind, WatchKind::Proxy | WatchKind::Worker) {
            self.new_transactions(address, newest, last_seen).await?
        } else {
            Vec::new()
        };
        let (parsed, parse_error) = match account.as_ref().and_then(|a| a.data.as_ref()) {
            None => (None, None),
            Some(data) => {
                let parsed = match kind {
                    WatchKind::Proxy => parse_proxy_state(data).map(|d| Parsed::Proxy(Box::new(d))),
                    WatchKind::Client => parse_client_state(data).map(Parsed::Client),
                    WatchKind::Worker => parse_worker_state(data).map(Parsed::Worker),
                    WatchKind::Plain => {
                        let mut s = self.lock();
                        if let Some((_, w)) = s.watched.get_mut(&address.to_hex()) {
                            w.synced = true;
                            w.balance = account.as_ref().map_or(0, |a| a.balance);
                            w.last_seen_tx = newest;
                        }
                        return Ok(());
                    }
                };
                match parsed {
                    Ok(p) => (Some(p), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            }
        };
        let mut s = self.lock();
        let codes = s.root.current().and_then(|r| r.codes.contract_codes());
        let params = s.root.current().map(|r| r.config.params.clone());
        let mut notified = Vec::new();
        let Some((_, w)) = s.watched.get_mut(&address.to_hex()) else {
            return Ok(());
        };
        w.synced = true;
        w.last_read = Some(tokio::time::Instant::now());
        w.balance = account.as_ref().map_or(0, |a| a.balance);
        w.parsed = parsed;
        w.parse_error = parse_error.clone();
        if let (Some(Parsed::Proxy(data)), Some(codes), Some(params)) = (&w.parsed, codes, params) {
            let key = ed25519_dalek::VerifyingKey::from_bytes(&data.state.public_key)
                .map_err(|e| ChainError::Malformed(format!("proxy key: {e}")))?;
            let ctx = ProxyContractContext {
                proxy_sc: address,
                proxy_key: &key,
                params: &params,
                codes: &codes,
                own_wallet: &self.wallet_address,
            };
            let observed = observe_proxy_inbound(&ctx, &txs);
            notified = observed.notified;
            w.saved_states.extend(observed.saved_states);
            let excess = w.saved_states.len().saturating_sub(SAVED_STATES_KEPT);
            w.saved_states.drain(..excess);
            w.registrations.extend(observed.registrations);
            let excess = w.registrations.len().saturating_sub(REGISTRATIONS_KEPT);
            w.registrations.drain(..excess);
            w.last_seen_tx = newest.or(w.last_seen_tx);
        } else if let Some(Parsed::Worker(state)) = &w.parsed {
            let bounced = bounced_payouts(&state.proxy_sc, &txs);
            if bounced > 0 {
                tracing::error!(worker_sc = %address.to_hex(), bounced,
                    "ton ledger: the proxy contract bounced a worker payout (it could not pay): the voucher is used up, its money stayed in the worker contract");
            }
            w.payouts_bounced += bounced;
            w.last_seen_tx = newest.or(w.last_seen_tx);
        } else if kind != WatchKind::Proxy || w.parsed.is_none() {
            // Not deployed yet (or not a proxy): nothing in its history matters to us.
            w.last_seen_tx = newest.or(w.last_seen_tx);
        }
        // A client or worker contract that told us it changed is read in the next rounds
        // (see `Watched::read_due`).
        let now = tokio::time::Instant::now();
        for sc in &notified {
            s.heat(sc, now);
        }
        // A deployed proxy read before the root codes are known keeps its cursor, so its
        // `save_state` messages are read once the context exists.
        match parse_error {
            Some(e) => Err(ChainError::Malformed(e)),
            None => Ok(()),
        }
    }

    async fn send_next(&self, now: u64, report: &mut RefreshReport) -> Result<(), ChainError> {
        let poll = self.lock_sender().poll(now);
        let send = match poll {
            Ok(PollResult::Send(send)) => send,
            Ok(PollResult::BalanceTooLow { balance, needed }) => {
                tracing::warn!(
                    balance,
                    needed,
                    "ton ledger: wallet balance too low to send"
                );
                return Ok(());
            }
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "ton ledger: cannot sign the wallet message");
                return Ok(());
            }
        };
        self.lock()
            .set_status(&send.tickets, MessageStatus::InFlight { seqno: send.seqno });
        report.sent = Some((send.seqno, send.resend));
        // A lost or refused send is retried by the wallet sender (resend after 30 s, or
        // re-signed once the seqno moves); the round's reads are still good.
        if let Err(e) = with_timeout(
            "send_external",
            self.call_timeout,
            self.chain.send_external(&send.boc),
        )
        .await
        {
            tracing::warn!(error = %e, seqno = send.seqno, "ton ledger: external message not sent");
            report.send_error = Some(e.to_string());
        }
        Ok(())
    }
}

/// What the proxy reads from the messages its contract received.
#[derive(Default)]
struct ObservedInbound {
    /// `save_state` messages from our own wallet.
    saved_states: Vec<SavedState>,
    /// Client registrations (long auth), from the derived client contracts only.
    registrations: Vec<ClientRegistration>,
    /// Client and worker contracts that reported a change (checked senders).
    notified: Vec<TonAddress>,
}

/// The `save_state` messages from our own wallet and the client registrations among `txs`
/// (oldest first); senders are checked by [`parse_proxy_inbound`].
fn observe_proxy_inbound(ctx: &ProxyContractContext<'_>, txs: &[ChainTx]) -> ObservedInbound {
    let mut out = ObservedInbound::default();
    for tx in txs {
        let Some(msg) = &tx.in_msg else { continue };
        let Some(source) = &msg.source else { continue };
        match parse_proxy_inbound(ctx, source, &msg.body) {
            Ok(ProxyInbound::SaveState {
                seqno,
                session_hash,
                ..
            }) => match u32::try_from(seqno) {
                Ok(seqno) => out.saved_states.push(SavedState {
                    seqno,
                    session_hash,
                }),
                Err(_) => tracing::warn!(seqno, "ton ledger: negative save_state seqno ignored"),
            },
            Ok(ProxyInbound::Client(ClientProxyRequest {
                client_owner,
                client_sc,
                payload,
                ..
            })) => {
                match payload {
                    Some(ClientProxyPayload::Register { nonce }) => {
                        out.registrations.push(ClientRegistration {
                            nonce,
                            owner: client_owner.to_hex(),
                            client_sc: client_sc.to_hex(),
                        });
                    }
                    // The proxy contract pays these to the client owner (a forced refund
                    // capped by its stake); the proxy only reports them.
                    Some(ClientProxyPayload::RefundGranted { amount, .. }) => tracing::info!(
                        client_sc = %client_sc.to_hex(),
                        amount,
                        "ton ledger: client refund granted by its contract"
                    ),
                    Some(ClientProxyPayload::RefundForce { amount, .. }) => tracing::info!(
                        client_sc = %client_sc.to_hex(),
                        amount,
                        "ton ledger: client forced a refund (paid up to the proxy's stake)"
                    ),
                    _ => {}
                }
                out.notified.push(client_sc);
            }
            Ok(ProxyInbound::Worker(request)) => out.notified.push(request.worker_sc),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "ton ledger: proxy inbound message ignored"),
        }
    }
    out
}

/// How many of `txs` carry a bounced `worker_proxy_request` from the proxy contract
/// `proxy_sc` (hex): body `0xffffffff | op 0x4d725d2c | …`, contracts.md §3.3.1.
fn bounced_payouts(proxy_sc: &str, txs: &[ChainTx]) -> u32 {
    let count = txs
        .iter()
        .filter_map(|tx| tx.in_msg.as_ref())
        .filter(|m| m.source.as_ref().is_some_and(|s| s.to_hex() == proxy_sc))
        .filter(|m| {
            let mut p = m.body.parser();
            p.load_u32(32).ok() == Some(0xffff_ffff)
                && p.load_u32(32).ok() == Some(crate::messages::op::WORKER_PROXY_REQUEST)
        })
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}
