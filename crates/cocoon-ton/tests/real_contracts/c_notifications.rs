//! C: the client contract tells its proxy contract about every refund, with the amount and
//! the excess address in the payload (contracts.md §3.1): `owner_client_withdraw` and a
//! first `owner_client_request_refund` with balance > stake send `refund_granted` (the
//! refund is immediate); a second request after the unlock time sends `refund_force`.
//! A top-up sends `top_up` with its amount. The mock chain sends the same messages, our
//! parser reads both, and the owner receives the same money.

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::ledger::Ledger;
use cocoon_ledger::root_config::{ContractCodes, RootParams};
use cocoon_ton::messages::{
    op, parse_proxy_inbound, ClientProxyPayload, ClientProxyRequest, ProxyContractContext,
    ProxyInbound,
};
use ed25519_dalek::VerifyingKey;
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use super::ours::{deploy_client, proxy_key, settle, with_deployed_proxy, WithProxy};
use super::world::{addr, Real};

/// One step's notification and the money the client owner received in that step.
#[derive(Debug)]
struct Seen {
    request: ClientProxyRequest,
    paid_to_owner: NanoTon,
}

fn parse_client(
    proxy_sc: &TonAddress,
    key: &VerifyingKey,
    params: &RootParams,
    codes: &ContractCodes,
    client_sc: &TonAddress,
    body: &Cell,
) -> ClientProxyRequest {
    let ctx = ProxyContractContext {
        proxy_sc,
        proxy_key: key,
        params,
        codes,
        own_wallet: &addr(0x99),
    };
    match parse_proxy_inbound(&ctx, client_sc, body).expect("our parser") {
        ProxyInbound::Client(c) => c,
        other => panic!("not a client request: {other:?}"),
    }
}

#[tokio::test]
async fn c_notifications() {
    let (ours, owner_ours) = ours().await;
    let Some(mut real) = Real::start() else {
        return;
    };
    let (real, owner_real) = real_contracts(&mut real);
    assert_eq!(ours.len(), real.len());
    let payload = |s: &Seen, owner: &TonAddress| match s.request.payload.clone() {
        // The excess address is each side's own owner wallet.
        Some(ClientProxyPayload::TopUp { amount, excess_to }) => {
            assert_eq!(&excess_to, owner);
            format!("top_up {amount}")
        }
        Some(ClientProxyPayload::RefundGranted { amount, excess_to }) => {
            assert_eq!(&excess_to, owner);
            format!("refund_granted {amount}")
        }
        Some(ClientProxyPayload::RefundForce { amount, excess_to }) => {
            assert_eq!(&excess_to, owner);
            format!("refund_force {amount}")
        }
        other => format!("{other:?}"),
    };
    for (i, (o, r)) in ours.iter().zip(&real).enumerate() {
        println!(
            "step {i}: real {} (state {} balance {} stake {}, owner +{}); ours {} (state {} balance {} stake {}, owner +{})",
            payload(r, &owner_real),
            r.request.state.status,
            r.request.state.balance,
            r.request.state.stake,
            r.paid_to_owner,
            payload(o, &owner_ours),
            o.request.state.status,
            o.request.state.balance,
            o.request.state.stake,
            o.paid_to_owner,
        );
        assert_eq!(o.request.state.status, r.request.state.status, "step {i}");
        assert_eq!(o.request.state.balance, r.request.state.balance, "step {i}");
        assert_eq!(
            o.request.state.tokens_used, r.request.state.tokens_used,
            "step {i}"
        );
        assert_eq!(o.paid_to_owner, r.paid_to_owner, "step {i}");
        // The stake is a figure inside the balance on both sides (D: stake inside balance).
        assert_eq!(payload(o, &owner_ours), payload(r, &owner_real), "step {i}");
        assert_eq!(o.request.state.stake, r.request.state.stake, "step {i}");
    }
}

/// Top-up, withdraw, top-up, first request (immediate refund), second request after the
/// unlock time (forced refund), on the real code.
fn real_contracts(real: &mut Real) -> (Vec<Seen>, TonAddress) {
    let proxy_owner = real.proxy_owner.clone();
    assert_eq!(
        real.increase_stake(&proxy_owner, 2 * ONE_TON).first_exit(),
        Some(0)
    );
    let owner = addr(0x0c);
    let csc = real.deploy_client(&owner);
    let proxy_sc = real.proxy_sc.clone();
    let key = real.proxy_key.verifying_key();
    let mut seen = Vec::new();
    let mut step = |real: &mut Real, trace: super::driver::Trace| {
        assert_eq!(trace.first_exit(), Some(0), "{trace:#?}");
        let tx = trace.tx_on(&proxy_sc, op::CLIENT_PROXY_REQUEST);
        assert_eq!(tx.exit_code(), Some(0), "{trace:#?}");
        let body = tx.in_msg.as_ref().expect("in msg").body_cell();
        let request = parse_client(&proxy_sc, &key, &real.params, &real.codes, &csc, &body);
        seen.push(Seen {
            request,
            paid_to_owner: Real::payouts_to(&trace, &owner).iter().sum(),
        });
    };
    let t = real.top_up(&owner, &csc, 11 * ONE_TON);
    step(real, t);
    let t = real.withdraw(&owner, &csc);
    step(real, t);
    let t = real.top_up(&owner, &csc, 5 * ONE_TON);
    step(real, t);
    let t = real.request_refund(&owner, &csc);
    step(real, t);
    real.sb.advance(3601);
    let t = real.request_refund(&owner, &csc);
    step(real, t);
    (seen, owner)
}

/// The same life on `TonLedger` over the mock chain.
async fn ours() -> (Vec<Seen>, TonAddress) {
    let WithProxy {
        chain,
        proxy: _proxy,
        party: client,
        psc,
    } = with_deployed_proxy(2, 100 * ONE_TON, 2).await;
    let key = proxy_key(1);
    let me = client.wallet_address().clone();
    let csc = deploy_client(&client, &psc).await;

    let mut paid = Vec::new();
    let mut wallet = client.wallet_balance(&me).expect("wallet");
    let mut record = |client: &cocoon_ton::ton_ledger::TonLedger, wallet: &mut NanoTon| {
        let now = client.wallet_balance(&me).expect("wallet");
        paid.push(now.saturating_sub(*wallet));
        *wallet = now;
    };
    client
        .client_top_up(&me, &csc, 11 * ONE_TON)
        .expect("top up");
    settle(&[&client], 2).await;
    record(&client, &mut wallet);
    client.client_withdraw(&me, &csc).expect("withdraw");
    settle(&[&client], 2).await;
    record(&client, &mut wallet);
    client
        .client_top_up(&me, &csc, 5 * ONE_TON)
        .expect("top up");
    settle(&[&client], 2).await;
    record(&client, &mut wallet);
    client
        .client_request_refund(&me, &csc)
        .expect("first request");
    settle(&[&client], 2).await;
    record(&client, &mut wallet);
    chain.advance_clock(3601).expect("clock");
    settle(&[&client], 1).await;
    client
        .client_request_refund(&me, &csc)
        .expect("second request");
    settle(&[&client], 2).await;
    record(&client, &mut wallet);
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );

    let params = chain.engine().root_config().expect("config").params;
    let requests: Vec<ClientProxyRequest> = chain
        .transactions_of(&psc)
        .into_iter()
        .filter_map(|t| t.in_msg)
        .filter(|m| m.source.as_ref() == Some(&csc))
        .map(|m| {
            parse_client(
                &psc,
                &key.verifying_key(),
                &params,
                chain.codes(),
                &csc,
                &m.body,
            )
        })
        .collect();
    assert_eq!(requests.len(), paid.len(), "{requests:#?}");
    let seen = requests
        .into_iter()
        .zip(paid)
        .map(|(request, paid_to_owner)| Seen {
            request,
            paid_to_owner,
        })
        .collect();
    (seen, me)
}
