//! "One external message in flight" for a cocoon wallet, as a pure state machine (time is
//! passed in, nothing is sent from here), after `CocoonWallet::send_pending_transactions`.
//!
//! * Callers [`WalletSender::enqueue`] internal messages and get a [`MessageTicket`].
//! * [`WalletSender::poll`] packs up to 4 queued messages into one signed external message
//!   at the wallet's current seqno (`valid_until = now + 3600`) and returns its BoC to hand
//!   to a liteserver; while it is unconfirmed, `poll` returns the same bytes again every
//!   30 s. Packing stops when `value + 0.1 TON` reserve would exceed `min(balance, 1000 TON)`;
//!   nothing is sent while the balance is under the low-balance threshold (2.1 TON).
//! * Feed the wallet's transactions **before** its new state, as the reference does:
//!   [`WalletSender::observe_transaction`] with an inbound external body hash equal to the
//!   in-flight message confirms its tickets; [`WalletSender::observe_state`] with a seqno
//!   above the in-flight one and no such transaction puts the in-flight messages back at
//!   the head of the queue, to be signed again at the new seqno.
//! * Deviation from the reference (which resends an expired message forever): once
//!   `valid_until` has passed without the seqno moving, the message can no longer be
//!   accepted, so its messages are re-signed with a fresh `valid_until`.

use std::collections::VecDeque;
use std::sync::Arc;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::boc;
use ed25519_dalek::SigningKey;
use tonlib_core::cell::ArcCell;

use super::{
    CocoonWallet, WalletError, COINS_RESERVE, MAX_MESSAGES_PER_EXTERNAL, MAX_VALUE_PER_EXTERNAL,
    MIN_BALANCE, RESEND_AFTER_SECS, VALID_FOR_SECS,
};
use crate::cells::CellError;
use crate::messages::OutgoingMessage;

/// Identifies one enqueued internal message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageTicket(pub u64);

/// An external message to hand to a liteserver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalSend {
    /// Standard BoC of the external message.
    pub boc: Vec<u8>,
    /// Wallet seqno it was signed for.
    pub seqno: u32,
    /// The internal messages it carries.
    pub tickets: Vec<MessageTicket>,
    /// Representation hash of the signed body (what the wallet transaction's inbound
    /// message body hash will be).
    pub body_hash: [u8; 32],
    /// Whether these exact bytes were handed out before.
    pub resend: bool,
}

/// What [`WalletSender::poll`] wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollResult {
    /// Nothing to send now.
    Idle,
    /// Messages are queued but the wallet state has not been observed yet.
    WaitingForState,
    /// The balance is too low to send the next message.
    BalanceTooLow {
        /// Observed balance.
        balance: NanoTon,
        /// What sending the next message needs.
        needed: NanoTon,
    },
    /// Send this external message.
    Send(ExternalSend),
}

#[derive(Clone, Debug)]
struct InFlight {
    messages: Vec<(MessageTicket, OutgoingMessage)>,
    body: ArcCell,
    body_hash: [u8; 32],
    seqno: u32,
    valid_until: u64,
    next_send_at: u64,
}

/// The sender state machine of one cocoon wallet.
pub struct WalletSender {
    wallet: CocoonWallet,
    key: SigningKey,
    low_balance: NanoTon,
    queue: VecDeque<(MessageTicket, OutgoingMessage)>,
    in_flight: Option<InFlight>,
    chain: Option<(u32, NanoTon)>,
    next_ticket: u64,
}

impl WalletSender {
    /// A sender for `wallet` signing with `key`, refusing to send under [`MIN_BALANCE`].
    pub fn new(wallet: CocoonWallet, key: SigningKey) -> Result<WalletSender, WalletError> {
        if key.verifying_key() != *wallet.public_key() {
            return Err(WalletError::KeyMismatch);
        }
        Ok(WalletSender {
            wallet,
            key,
            low_balance: MIN_BALANCE,
            queue: VecDeque::new(),
            in_flight: None,
            chain: None,
            next_ticket: 1,
        })
    }

    /// Changes the balance under which nothing is sent (default [`MIN_BALANCE`]).
    pub fn with_low_balance(mut self, low_balance: NanoTon) -> WalletSender {
        self.low_balance = low_balance;
        self
    }

    /// The wallet.
    pub fn wallet(&self) -> &CocoonWallet {
        &self.wallet
    }

    /// Queues an internal message.
    pub fn enqueue(&mut self, msg: OutgoingMessage) -> MessageTicket {
        let ticket = MessageTicket(self.next_ticket);
        self.next_ticket += 1;
        self.queue.push_back((ticket, msg));
        ticket
    }

    /// Messages queued and not yet in flight.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Tickets of the in-flight external message.
    pub fn in_flight(&self) -> Vec<MessageTicket> {
        self.in_flight
            .as_ref()
            .map(|f| f.messages.iter().map(|(t, _)| *t).collect())
            .unwrap_or_default()
    }

    /// Records a transaction of the wallet whose inbound external message body has
    /// `body_hash`; returns the tickets it confirms (empty when it is not ours).
    pub fn observe_transaction(&mut self, body_hash: &[u8; 32]) -> Vec<MessageTicket> {
        match &self.in_flight {
            Some(f) if &f.body_hash == body_hash => self
                .in_flight
                .take()
                .map(|f| f.messages.into_iter().map(|(t, _)| t).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Records the wallet's account state: `seqno` (0 while not deployed) and balance.
    /// Returns the tickets put back in the queue because the seqno moved past the
    /// in-flight message without a matching transaction.
    pub fn observe_state(&mut self, seqno: u32, balance: NanoTon) -> Vec<MessageTicket> {
        self.chain = Some((seqno, balance));
        match &self.in_flight {
            Some(f) if seqno > f.seqno => self.requeue_in_flight(),
            _ => Vec::new(),
        }
    }

    fn requeue_in_flight(&mut self) -> Vec<MessageTicket> {
        let Some(f) = self.in_flight.take() else {
            return Vec::new();
        };
        let tickets = f.messages.iter().map(|(t, _)| *t).collect();
        for entry in f.messages.into_iter().rev() {
            self.queue.push_front(entry);
        }
        tickets
    }

    /// Decides what to send at unix time `now`.
    pub fn poll(&mut self, now: u64) -> Result<PollResult, WalletError> {
        if let Some(f) = &self.in_flight {
            if now < f.valid_until {
                if now < f.next_send_at {
                    return Ok(PollResult::Idle);
                }
                let (body, seqno) = (f.body.clone(), f.seqno);
                let send = self.external(&body, seqno, true)?;
                if let Some(f) = &mut self.in_flight {
                    f.next_send_at = now.saturating_add(RESEND_AFTER_SECS);
                }
                return Ok(PollResult::Send(send));
            }
            self.requeue_in_flight();
        }
        if self.queue.is_empty() {
            return Ok(PollResult::Idle);
        }
        let Some((seqno, balance)) = self.chain else {
            return Ok(PollResult::WaitingForState);
        };
        if balance < self.low_balance {
            return Ok(PollResult::BalanceTooLow {
                balance,
                needed: self.low_balance,
            });
        }
        let limit = balance.min(MAX_VALUE_PER_EXTERNAL);
        let mut total: NanoTon = 0;
        let mut count = 0;
        for (_, msg) in self.queue.iter().take(MAX_MESSAGES_PER_EXTERNAL) {
            let with_reserve = total
                .saturating_add(msg.value)
                .saturating_add(COINS_RESERVE);
            if with_reserve > limit {
                if count == 0 {
                    return Ok(PollResult::BalanceTooLow {
                        balance,
                        needed: with_reserve,
                    });
                }
                break;
            }
            total = total.saturating_add(msg.value);
            count += 1;
        }
        let valid_until = now.saturating_add(VALID_FOR_SECS);
        let valid_until_u32 =
            u32::try_from(valid_until).map_err(|_| WalletError::ClockOutOfRange(now))?;
        let messages: Vec<(MessageTicket, OutgoingMessage)> = self.queue.drain(..count).collect();
        let plain: Vec<OutgoingMessage> = messages.iter().map(|(_, m)| m.clone()).collect();
        let body = match self
            .wallet
            .signed_body(&self.key, seqno, valid_until_u32, &plain)
        {
            Ok(body) => Arc::new(body),
            Err(e) => {
                for entry in messages.into_iter().rev() {
                    self.queue.push_front(entry);
                }
                return Err(e);
            }
        };
        let body_hash = boc::cell_hash(&body);
        self.in_flight = Some(InFlight {
            messages,
            body: body.clone(),
            body_hash,
            seqno,
            valid_until,
            next_send_at: now.saturating_add(RESEND_AFTER_SECS),
        });
        Ok(PollResult::Send(self.external(&body, seqno, false)?))
    }

    fn external(
        &self,
        body: &ArcCell,
        seqno: u32,
        resend: bool,
    ) -> Result<ExternalSend, WalletError> {
        // The StateInit rides along while the wallet is observed undeployed (seqno 0).
        let observed_seqno = self.chain.map_or(seqno, |(s, _)| s);
        let cell = self.wallet.external_message(body, observed_seqno)?;
        let boc = boc::serialize(cell).map_err(CellError::from)?;
        let tickets = self
            .in_flight
            .as_ref()
            .map(|f| f.messages.iter().map(|(t, _)| *t).collect())
            .unwrap_or_default();
        Ok(ExternalSend {
            boc,
            seqno,
            tickets,
            body_hash: boc::cell_hash(body),
            resend,
        })
    }
}
