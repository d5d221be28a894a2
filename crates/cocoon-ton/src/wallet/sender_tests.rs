//! The one-message-in-flight state machine, driven with an injected clock.

use super::*;

const T0: u64 = 1_700_000_000;

fn sender() -> WalletSender {
    WalletSender::new(wallet(), key()).expect("sender")
}

fn expect_send(result: PollResult) -> ExternalSend {
    match result {
        PollResult::Send(send) => send,
        other => panic!("expected a send, got {other:?}"),
    }
}

/// Decodes a sent external message: (has StateInit, seqno, number of internal messages).
fn decode(send: &ExternalSend) -> (bool, u32, usize) {
    let cell = boc::parse_single_root(&send.boc, 4096, 32).expect("boc");
    let has_init = cell.references().len() == 2;
    let body = cell.references().last().expect("body").clone();
    assert_eq!(boc::cell_hash(&body), send.body_hash);
    let mut p = body.parser();
    p.skip_bits(512 + 64).expect("skip");
    let seqno = p.load_u32(32).expect("seqno");
    (has_init, seqno, body.references().len())
}

#[test]
fn waits_for_state_then_sends_and_resends_every_30_s() {
    let mut s = sender();
    assert_eq!(s.poll(T0).expect("poll"), PollResult::Idle);
    let a = s.enqueue(msg(1, ONE_TON));
    let b = s.enqueue(msg(2, ONE_TON));
    assert_eq!(s.poll(T0).expect("poll"), PollResult::WaitingForState);
    s.observe_state(0, 10 * ONE_TON);
    let first = expect_send(s.poll(T0).expect("poll"));
    assert_eq!(first.tickets, vec![a, b]);
    assert!(!first.resend);
    assert_eq!(decode(&first), (true, 0, 2));
    assert_eq!(s.queued(), 0);
    assert_eq!(s.in_flight(), vec![a, b]);
    // Nothing new before 30 s, even with more queued.
    let c = s.enqueue(msg(3, ONE_TON));
    assert_eq!(s.poll(T0 + 29).expect("poll"), PollResult::Idle);
    let again = expect_send(s.poll(T0 + 30).expect("poll"));
    assert!(again.resend);
    assert_eq!(again.boc, first.boc);
    assert_eq!(s.poll(T0 + 59).expect("poll"), PollResult::Idle);
    assert!(expect_send(s.poll(T0 + 60).expect("poll")).resend);
    // The wallet transaction with our body confirms both messages; the next one follows.
    assert_eq!(s.observe_transaction(&[0u8; 32]), vec![]);
    assert_eq!(s.observe_transaction(&first.body_hash), vec![a, b]);
    assert_eq!(s.observe_state(1, 7 * ONE_TON), vec![]);
    let next = expect_send(s.poll(T0 + 61).expect("poll"));
    assert_eq!(next.tickets, vec![c]);
    assert_eq!(decode(&next), (false, 1, 1));
}

#[test]
fn packs_at_most_four_messages() {
    let mut s = sender();
    s.observe_state(5, 100 * ONE_TON);
    let tickets: Vec<MessageTicket> = (0..6).map(|i| s.enqueue(msg(i, ONE_TON))).collect();
    let first = expect_send(s.poll(T0).expect("poll"));
    assert_eq!(first.tickets, tickets[..4].to_vec());
    assert_eq!(decode(&first), (false, 5, 4));
    s.observe_transaction(&first.body_hash);
    s.observe_state(6, 96 * ONE_TON);
    let second = expect_send(s.poll(T0 + 1).expect("poll"));
    assert_eq!(second.tickets, tickets[4..].to_vec());
}

#[test]
fn seqno_moving_without_our_transaction_requeues() {
    let mut s = sender();
    s.observe_state(2, 10 * ONE_TON);
    let a = s.enqueue(msg(1, ONE_TON));
    let first = expect_send(s.poll(T0).expect("poll"));
    assert_eq!(first.seqno, 2);
    // Same seqno again: still in flight.
    assert_eq!(s.observe_state(2, 10 * ONE_TON), vec![]);
    assert_eq!(s.observe_state(3, 10 * ONE_TON), vec![a]);
    assert_eq!(s.queued(), 1);
    let second = expect_send(s.poll(T0 + 1).expect("poll"));
    assert_eq!(second.tickets, vec![a]);
    assert_eq!(second.seqno, 3);
    assert_ne!(second.body_hash, first.body_hash);
}

#[test]
fn expired_message_is_signed_again() {
    let mut s = sender();
    s.observe_state(4, 10 * ONE_TON);
    let a = s.enqueue(msg(1, ONE_TON));
    let first = expect_send(s.poll(T0).expect("poll"));
    let late = expect_send(s.poll(T0 + VALID_FOR_SECS).expect("poll"));
    assert!(!late.resend);
    assert_eq!(late.tickets, vec![a]);
    assert_eq!(late.seqno, 4);
    assert_ne!(late.body_hash, first.body_hash);
}

#[test]
fn low_balance_blocks_sending() {
    let mut s = sender();
    s.enqueue(msg(1, ONE_TON));
    s.observe_state(1, 2 * ONE_TON);
    assert_eq!(
        s.poll(T0).expect("poll"),
        PollResult::BalanceTooLow {
            balance: 2 * ONE_TON,
            needed: MIN_BALANCE
        }
    );
    // Enough for the threshold but not for a 5 TON message plus the reserve.
    let mut s = sender();
    s.enqueue(msg(1, 5 * ONE_TON));
    s.observe_state(1, 3 * ONE_TON);
    assert_eq!(
        s.poll(T0).expect("poll"),
        PollResult::BalanceTooLow {
            balance: 3 * ONE_TON,
            needed: 5 * ONE_TON + COINS_RESERVE
        }
    );
    // The first message fits, the second does not: only the first goes.
    let mut s = sender();
    let a = s.enqueue(msg(1, 2 * ONE_TON));
    s.enqueue(msg(2, 2 * ONE_TON));
    s.observe_state(1, 3 * ONE_TON);
    assert_eq!(expect_send(s.poll(T0).expect("poll")).tickets, vec![a]);
    // A lower threshold can be configured.
    let mut s = sender().with_low_balance(ONE_TON / 2);
    s.enqueue(msg(1, 1));
    s.observe_state(1, ONE_TON);
    assert!(matches!(s.poll(T0).expect("poll"), PollResult::Send(_)));
}

#[test]
fn clock_beyond_u32_is_an_error_and_keeps_the_queue() {
    let mut s = sender();
    s.enqueue(msg(1, ONE_TON));
    s.observe_state(1, 10 * ONE_TON);
    assert!(matches!(
        s.poll(u64::from(u32::MAX)),
        Err(WalletError::ClockOutOfRange(_))
    ));
    assert_eq!(s.queued(), 1);
}
