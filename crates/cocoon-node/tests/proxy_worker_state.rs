//! Worker state updates after the handshake: `worker.enabledDisabled`,
//! `worker.newCoefficient` (a negative one closes the connection).

mod proxy_common;

use cocoon_wire::schema::types;
use cocoon_wire::tl::to_bytes;
use proxy_common::*;
use tokio::sync::mpsc;

fn conn_state(proxy: &cocoon_node::proxy::ProxyHandle) -> cocoon_node::proxy::registry::ConnState {
    proxy.shared.registry.snapshot()[0].1[0].state()
}

#[tokio::test]
async fn enable_disable_and_coefficient_updates_drive_selection() {
    let proxy = start_proxy().await;
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let worker = spawn_worker(
        &proxy,
        "w",
        1000,
        4,
        Behaviour::Answer { parts: 1 },
        seen_tx,
    )
    .await;
    let mut client = connect_client(&proxy).await;

    worker
        .session
        .send(to_bytes(&types::worker::EnabledDisabled { disabled: 1 }))
        .await
        .unwrap();
    wait_until("disabled", || conn_state(&proxy).disabled).await;
    let id = client.send_request(MODEL, 4000, 10.0).await;
    assert_eq!(
        client.outcome(id).await.error,
        Some((651, format!("no ready workers for model {MODEL}")))
    );

    worker
        .session
        .send(to_bytes(&types::worker::EnabledDisabled { disabled: 0 }))
        .await
        .unwrap();
    worker
        .session
        .send(to_bytes(&types::worker::NewCoefficient {
            new_coefficient: 4500,
        }))
        .await
        .unwrap();
    wait_until("re-enabled at 4500", || {
        let st = conn_state(&proxy);
        !st.disabled && st.coefficient == 4500
    })
    .await;
    let id = client.send_request(MODEL, 4000, 10.0).await;
    assert_eq!(
        client.outcome(id).await.error,
        Some((651, "can run this query with coefficient=4500".into()))
    );
    let id = client.send_request(MODEL, 5000, 10.0).await;
    assert_eq!(client.outcome(id).await.error, None);

    worker
        .session
        .send(to_bytes(&types::worker::NewCoefficient {
            new_coefficient: -1,
        }))
        .await
        .unwrap();
    within(
        "negative coefficient closes the connection",
        worker.session.closed(),
    )
    .await;
    wait_until("unregistered", || ready_workers(&proxy, MODEL) == 0).await;
}
