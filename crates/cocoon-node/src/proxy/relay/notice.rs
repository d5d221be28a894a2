//! Settlement and payment notices (runners.md §6.3): after every attempt a worker ended —
//! completed or failed — the request's tokens (from the worker's final info; zero when it
//! sent none) are settled, and the worker gets `proxy.workerRequestPayment` and the client
//! `proxy.clientRequestPayment` with the current vouchers and counters, as the reference
//! does even for failed requests (§13.21). Attempts the proxy abandoned (client gone or
//! cancelled, proxy timeout) bill nothing: the worker's later messages are dropped.

use cocoon_wire::schema::types;
use cocoon_wire::tl::to_bytes;

use super::Relay;
use crate::common::proto;
use crate::proxy::registry::WorkerConn;
use crate::proxy::reservation::Reservation;
use crate::proxy::Side;

impl Relay {
    /// Settles `tokens` and sends both sides their payment notices (a completed request:
    /// the client's follows its final answer).
    pub(super) async fn settle_and_notify(
        &self,
        conn: &WorkerConn,
        proxy_request_id: [u8; 32],
        tokens: &types::TokensUsed,
        reservation: Option<&Reservation>,
    ) {
        let billed = self
            .settle_and_notify_worker(conn, proxy_request_id, tokens, reservation)
            .await;
        self.notify_client(billed).await;
    }

    /// Settles an attempt the worker ended with an error (its final info's tokens, zero
    /// without one) and sends the worker its notice; returns the tokens billed. The client's
    /// notice follows the error it gets ([`Self::notify_client`]).
    pub(super) async fn settle_failed(
        &self,
        conn: &WorkerConn,
        proxy_request_id: [u8; 32],
        info: Option<&types::proxy::QueryFinalInfo>,
        reservation: Option<&Reservation>,
    ) -> u64 {
        let tokens = info.map_or_else(proto::zero_tokens, |i| i.tokens_used.clone());
        self.settle_and_notify_worker(conn, proxy_request_id, &tokens, reservation)
            .await
    }

    async fn settle_and_notify_worker(
        &self,
        conn: &WorkerConn,
        proxy_request_id: [u8; 32],
        tokens: &types::TokensUsed,
        reservation: Option<&Reservation>,
    ) -> u64 {
        let (_, worker_pay, billed) =
            self.shared
                .settle(&self.client.owner, &conn.owner, tokens, reservation);
        let to_worker = types::proxy::WorkerRequestPayment {
            request_id: proxy_request_id,
            signed_payment: worker_pay.signed_payment,
            db_tokens: worker_pay.db_tokens,
            max_tokens: worker_pay.max_tokens,
            request_tokens: wire(billed),
            request_client_owner: self.client.owner.clone(),
        };
        let _ = conn.session.send(to_bytes(&to_worker)).await;
        billed
    }

    /// `proxy.clientRequestPayment` for this request with `billed` tokens and the client's
    /// current voucher and counters.
    pub(super) async fn notify_client(&self, billed: u64) {
        let pay = self
            .shared
            .payment_snapshot(Side::Client, &self.client.owner);
        let to_client = types::proxy::ClientRequestPayment {
            request_id: self.req.request_id,
            signed_payment: pay.signed_payment,
            db_tokens: pay.db_tokens,
            max_tokens: pay.max_tokens,
            request_tokens: wire(billed),
        };
        let _ = self.client.session.send(to_bytes(&to_client)).await;
    }
}

fn wire(tokens: u64) -> i64 {
    i64::try_from(tokens).unwrap_or(i64::MAX)
}
