//! Queries: answers, remote errors, "Lost promise", timeouts, connection
//! loss, closed sessions and the outstanding-query cap.

mod common;

use std::time::Duration;

use cocoon_net::{
    error_code, CloseReason, InboundMessage, IncomingQuery, NetError, QueryError, SessionConfig,
    LOST_PROMISE_MESSAGE,
};
use cocoon_wire::schema::{enums, functions, types};
use common::{session_pair, session_pair_with, session_with_raw_peer, test_answer, TcpPacket};
use tokio::time::Instant;

const LONG: Duration = Duration::from_secs(60);

async fn next_query(inbound: &mut cocoon_net::Inbound) -> IncomingQuery {
    match inbound.next().await {
        Some(InboundMessage::Query(query)) => query,
        other => panic!("expected a query, got {other:?}"),
    }
}

#[tokio::test]
async fn query_gets_the_answer() {
    let ((dialer, _din), (_acceptor, mut ain)) = session_pair().await;
    let server = tokio::spawn(async move {
        let mut query = next_query(&mut ain).await;
        let request = query.take_data();
        query
            .answer([b"re:".as_slice(), &request].concat())
            .await
            .unwrap();
        ain
    });
    let answer = dialer.query(b"ping me".to_vec(), LONG).await.unwrap();
    assert_eq!(answer, b"re:ping me");
    assert_eq!(dialer.outstanding_queries(), 0);
    server.await.unwrap();
}

#[tokio::test]
async fn call_encodes_the_function_and_decodes_the_answer() {
    let ((dialer, _din), (_acceptor, mut ain)) = session_pair().await;
    tokio::spawn(async move {
        let query = next_query(&mut ain).await;
        let request: functions::test::Query = cocoon_wire::tl::from_bytes(&query.data).unwrap();
        query.answer(test_answer(request.id + 1)).await.unwrap();
        ain
    });
    let answer = dialer
        .call(&functions::test::Query { id: 41 }, LONG)
        .await
        .unwrap();
    assert_eq!(
        answer,
        enums::test::Answer::Answer(types::test::Answer { id: 42 })
    );
}

#[tokio::test]
async fn answer_that_does_not_decode_is_a_decode_error() {
    let ((dialer, _din), (_acceptor, mut ain)) = session_pair().await;
    tokio::spawn(async move {
        next_query(&mut ain)
            .await
            .answer(vec![1, 2, 3, 4])
            .await
            .unwrap();
        ain
    });
    let err = dialer
        .call(&functions::test::Query { id: 1 }, LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Decode(_)), "{err}");
    assert_eq!(err.code(), error_code::PROTOVIOLATION);
}

#[tokio::test]
async fn query_error_from_peer_is_returned() {
    let ((dialer, _din), (_acceptor, mut ain)) = session_pair().await;
    tokio::spawn(async move {
        next_query(&mut ain)
            .await
            .error(404, "no such model")
            .await
            .unwrap();
        ain
    });
    let err = dialer.query(test_answer(1), LONG).await.unwrap_err();
    match err {
        QueryError::Remote { code, ref message } => {
            assert_eq!((code, message.as_str()), (404, "no such model"));
            assert_eq!(err.code(), 404);
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
}

#[tokio::test]
async fn dropped_query_answers_lost_promise() {
    let ((dialer, _din), (_acceptor, mut ain)) = session_pair().await;
    tokio::spawn(async move {
        drop(next_query(&mut ain).await);
        ain
    });
    let err = dialer.query(test_answer(1), LONG).await.unwrap_err();
    match err {
        QueryError::Remote { code, message } => {
            assert_eq!(code, error_code::LOST_PROMISE);
            assert_eq!(message, LOST_PROMISE_MESSAGE);
        }
        other => panic!("expected lost promise, got {other:?}"),
    }
}

#[tokio::test]
async fn queries_to_a_session_without_inbound_receiver_get_lost_promise() {
    let ((dialer, _din), (_acceptor, ain)) = session_pair().await;
    drop(ain); // the acceptor's `Session` handle keeps it open
    let err = dialer.query(test_answer(1), LONG).await.unwrap_err();
    assert!(matches!(err, QueryError::Remote { code: 0, .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn unanswered_query_times_out() {
    let ((dialer, _din), (_acceptor, mut ain)) = session_pair().await;
    // Keep the query alive (unanswered) on the other side.
    let holder = tokio::spawn(async move {
        let query = next_query(&mut ain).await;
        std::future::pending::<()>().await;
        drop((query, ain));
    });
    let started = Instant::now();
    let err = dialer
        .query(test_answer(1), Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Timeout), "{err}");
    assert_eq!(err.code(), error_code::TIMEOUT);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(dialer.outstanding_queries(), 0);
    holder.abort();
}

#[tokio::test(start_paused = true)]
async fn connection_loss_fails_outstanding_queries_at_once() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    let started = Instant::now();
    let queries: Vec<_> = (0..3)
        .map(|i| {
            let session = session.clone();
            tokio::spawn(async move { session.query(test_answer(i), LONG).await })
        })
        .collect();
    // Wait until all three queries are on the wire, then hang up.
    for _ in 0..3 {
        assert!(matches!(peer.recv_packet().await, TcpPacket::Query(_)));
    }
    drop(peer);
    for query in queries {
        let err = query.await.unwrap().unwrap_err();
        assert!(
            matches!(err, QueryError::ConnectionClosed(CloseReason::PeerClosed)),
            "{err}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "failed only after {:?}",
        started.elapsed()
    );
    assert_eq!(session.outstanding_queries(), 0);
}

#[tokio::test]
async fn send_and_query_on_a_closed_session_fail_immediately() {
    let ((dialer, _din), (acceptor, _ain)) = session_pair().await;
    dialer.close();
    assert!(dialer.is_closed());
    assert_eq!(dialer.close_reason(), Some(CloseReason::Local));
    let err = dialer.send(test_answer(1)).await.unwrap_err();
    assert!(matches!(err, NetError::Closed(CloseReason::Local)), "{err}");
    let err = dialer.query(test_answer(1), LONG).await.unwrap_err();
    assert!(
        matches!(err, QueryError::ConnectionClosed(CloseReason::Local)),
        "{err}"
    );
    // The peer notices the hang-up.
    assert_eq!(acceptor.closed().await, CloseReason::PeerClosed);
    let err = acceptor.send(test_answer(1)).await.unwrap_err();
    assert!(
        matches!(err, NetError::Closed(CloseReason::PeerClosed)),
        "{err}"
    );
}

#[tokio::test]
async fn outstanding_query_cap_is_enforced() {
    let mut cfg = SessionConfig::dialer();
    cfg.max_outstanding_queries = 2;
    let ((dialer, _din), (_acceptor, mut ain)) =
        session_pair_with(cfg, SessionConfig::acceptor()).await;
    let first = tokio::spawn({
        let dialer = dialer.clone();
        async move { dialer.query(test_answer(1), LONG).await }
    });
    let second = tokio::spawn({
        let dialer = dialer.clone();
        async move { dialer.query(test_answer(2), LONG).await }
    });
    let q1 = next_query(&mut ain).await;
    let q2 = next_query(&mut ain).await;
    assert_eq!(dialer.outstanding_queries(), 2);
    let err = dialer.query(test_answer(3), LONG).await.unwrap_err();
    assert!(matches!(err, QueryError::TooManyOutstanding), "{err}");
    q1.answer(test_answer(10)).await.unwrap();
    q2.answer(test_answer(20)).await.unwrap();
    assert_eq!(first.await.unwrap().unwrap(), test_answer(10));
    assert_eq!(second.await.unwrap().unwrap(), test_answer(20));
    // Room again.
    tokio::spawn(async move {
        next_query(&mut ain)
            .await
            .answer(test_answer(30))
            .await
            .unwrap();
        ain
    });
    assert_eq!(
        dialer.query(test_answer(3), LONG).await.unwrap(),
        test_answer(30)
    );
}

#[tokio::test]
async fn answers_are_matched_by_id_out_of_order() {
    let (session, _inbound, mut peer) = session_with_raw_peer(SessionConfig::dialer()).await;
    let a = tokio::spawn({
        let s = session.clone();
        async move { s.query(b"first".to_vec(), LONG).await }
    });
    let TcpPacket::Query(qa) = peer.recv_packet().await else {
        panic!("query expected")
    };
    let b = tokio::spawn({
        let s = session.clone();
        async move { s.query(b"second".to_vec(), LONG).await }
    });
    let TcpPacket::Query(qb) = peer.recv_packet().await else {
        panic!("query expected")
    };
    assert_ne!(qa.id, qb.id);
    // An answer for an unknown id is ignored.
    peer.send_packet(TcpPacket::QueryAnswer(types::tcp::QueryAnswer {
        id: qa.id ^ qb.id ^ 1,
        data: vec![0; 4],
    }))
    .await;
    peer.send_packet(TcpPacket::QueryAnswer(types::tcp::QueryAnswer {
        id: qb.id,
        data: b"B".to_vec(),
    }))
    .await;
    peer.send_packet(TcpPacket::QueryAnswer(types::tcp::QueryAnswer {
        id: qa.id,
        data: b"A".to_vec(),
    }))
    .await;
    assert_eq!(a.await.unwrap().unwrap(), b"A");
    assert_eq!(b.await.unwrap().unwrap(), b"B");
}

#[tokio::test]
async fn too_large_messages_are_rejected_without_closing() {
    let ((dialer, _din), _acceptor) = session_pair().await;
    let huge = vec![0u8; 1 << 24];
    let err = dialer.send(huge.clone()).await.unwrap_err();
    assert!(matches!(err, NetError::TooLarge { .. }), "{err}");
    let err = dialer.query(huge, LONG).await.unwrap_err();
    assert!(matches!(err, QueryError::TooLarge { .. }), "{err}");
    assert!(!dialer.is_closed());
    assert_eq!(dialer.outstanding_queries(), 0);
}
