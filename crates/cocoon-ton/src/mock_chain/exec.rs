//! What the mock chain does with an external message: the cocoon wallet's checks, then each
//! internal message dispatched by opcode to the devnet engine; and the contract data cells
//! served back from the engine's states.

use std::sync::Arc;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::{parse_address, ContractKind};
use cocoon_ledger::boc;
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::Ledger;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use tonlib_core::cell::{ArcCell, Cell};
use tonlib_core::TonAddress;

use super::decode::{
    body_boc, parse_external, parse_internal, parse_key_registration, parse_state_init,
    parse_wallet_order, state_init_address, InternalOut,
};
use super::notify::notify_proxy;
use super::{accounts, Deployed, MessageFailure, MockChain, MockState, MockWallet};
use crate::cells::{load_addr, load_bits256, load_coins};
use crate::chain::{ChainError, InMsg};
use crate::messages::op;

fn rejected(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rejected(e.to_string())
}

pub(super) fn address_of(hex: &str) -> Result<TonAddress, String> {
    parse_address(hex)
        .map(|f| f.address)
        .map_err(|e| e.to_string())
}

fn wallet_from_init(init: &Cell) -> Result<MockWallet, ChainError> {
    let (code, data) = parse_state_init(init).map_err(rejected)?;
    let mut p = data.parser();
    let seqno = p.load_u32(32).map_err(|e| rejected(e.to_string()))?;
    let _subwallet = p.load_u32(32).map_err(|e| rejected(e.to_string()))?;
    let key = load_bits256(&mut p).map_err(rejected)?;
    let _zero = p.load_u32(32).map_err(|e| rejected(e.to_string()))?;
    let owner = load_addr(&mut p).map_err(rejected)?;
    let public_key = VerifyingKey::from_bytes(&key).map_err(rejected)?;
    Ok(MockWallet {
        code,
        public_key,
        owner,
        seqno,
    })
}

/// Runs the wallet's checks on an external message and, if it is accepted, delivers its
/// internal messages.
pub(super) fn accept_external(chain: &MockChain, bytes: &[u8]) -> Result<(), ChainError> {
    let ext = parse_external(bytes).map_err(|e| ChainError::Malformed(e.to_string()))?;
    let now = chain.engine.now();
    let mut st = chain.lock();
    if st.faults.drop_externals > 0 {
        st.faults.drop_externals -= 1;
        st.externals_dropped += 1;
        return Ok(());
    }
    let key = ext.dest.to_hex();
    if !st.wallets.contains_key(&key) {
        let init = ext
            .state_init
            .as_ref()
            .ok_or_else(|| rejected("no wallet at the destination and no StateInit attached"))?;
        if state_init_address(init) != ext.dest {
            return Err(rejected("the StateInit does not hash to the destination"));
        }
        let wallet = wallet_from_init(init)?;
        st.wallets.insert(key.clone(), wallet);
    }
    let wallet = st
        .wallets
        .get(&key)
        .ok_or_else(|| rejected("wallet vanished"))?;
    let order = parse_wallet_order(&ext.body).map_err(rejected)?;
    wallet
        .public_key
        .verify(&order.signed_hash, &Signature::from_bytes(&order.signature))
        .map_err(|_| rejected("bad wallet signature"))?;
    if order.subwallet != 0 {
        return Err(rejected(format!("subwallet {} is not 0", order.subwallet)));
    }
    if order.seqno != wallet.seqno {
        return Err(rejected(format!(
            "seqno {} does not match the wallet's {}",
            order.seqno, wallet.seqno
        )));
    }
    if u64::from(order.valid_until) < now {
        return Err(rejected("the order has expired"));
    }
    let mut messages = Vec::with_capacity(order.messages.len());
    for (_, cell) in &order.messages {
        messages.push(parse_internal(cell).map_err(rejected)?);
    }
    let total: NanoTon = messages.iter().map(|m| m.value).sum();
    let balance = chain
        .engine
        .wallet_balance(&ext.dest)
        .map_err(|e| ChainError::Unavailable(e.to_string()))?;
    if total > balance {
        return Err(rejected(format!(
            "wallet holds {balance}, the order sends {total}"
        )));
    }
    if let Some(w) = st.wallets.get_mut(&key) {
        w.seqno += 1;
    }
    st.externals_accepted += 1;
    MockChain::record_tx(
        &mut st,
        &ext.dest,
        now,
        InMsg {
            source: None,
            body: ext.body.clone(),
            value: 0,
        },
    );
    for msg in messages {
        deliver(chain, &mut st, &ext.dest, now, msg);
    }
    st.block_seqno += 1;
    Ok(())
}

fn empty_cell() -> ArcCell {
    Arc::new(Cell::default())
}

fn deliver(chain: &MockChain, st: &mut MockState, from: &TonAddress, now: u64, msg: InternalOut) {
    let key = msg.dest.to_hex();
    let mut result = Ok(());
    if let Some(init) = &msg.state_init {
        if !st.contracts.contains_key(&key) {
            result = deploy(chain, st, init, &msg);
        }
    }
    let mut body_op = 0;
    if let (Ok(()), Some(body)) = (&result, &msg.body) {
        body_op = body.parser().load_u32(32).unwrap_or(0);
        result = apply_body(chain, st, from, &msg.dest, body);
        if result.is_ok() {
            result = notify_proxy(chain, st, &msg.dest, now, body);
        }
    }
    if let Err(error) = result {
        tracing::debug!(dest = %key, op = body_op, %error, "mock chain: message refused");
        st.failures.push(MessageFailure {
            dest: key,
            op: body_op,
            error,
        });
    }
    let body = msg.body.clone().unwrap_or_else(empty_cell);
    MockChain::record_tx(
        st,
        &msg.dest,
        now,
        InMsg {
            source: Some(from.clone()),
            body,
            value: msg.value,
        },
    );
}

fn deploy(
    chain: &MockChain,
    st: &mut MockState,
    init: &ArcCell,
    msg: &InternalOut,
) -> Result<(), String> {
    if state_init_address(init) != msg.dest {
        return Err("the StateInit does not hash to the destination".into());
    }
    let (code, data) = parse_state_init(init).map_err(|e| e.to_string())?;
    let code_hash = boc::cell_hash(&code);
    let kind = [
        (ContractKind::Proxy, &chain.codes.proxy),
        (ContractKind::Worker, &chain.codes.worker),
        (ContractKind::Client, &chain.codes.client),
    ]
    .into_iter()
    .find(|(_, c)| boc::cell_hash(c) == code_hash)
    .map(|(k, _)| k)
    .ok_or("the code is none of the root's contract codes")?;
    let e = |e: cocoon_ledger::ledger::LedgerError| e.to_string();
    let c = |e: crate::cells::CellError| e.to_string();
    let t = |e: tonlib_core::cell::TonCellError| e.to_string();
    let engine = &chain.engine;
    let deployed = match kind {
        ContractKind::Proxy => {
            let mut p = data.parser();
            let owner = load_addr(&mut p).map_err(c)?;
            let key = load_bits256(&mut p).map_err(c)?;
            let root = load_addr(&mut p).map_err(c)?;
            if root != chain.root_address {
                return Err("proxy contract of another root".into());
            }
            let key = VerifyingKey::from_bytes(&key).map_err(|e| e.to_string())?;
            // A deploy never sets the stake (contracts.md §3.3.4): `ext_proxy_increase_stake`.
            engine
                .devnet_proxy_deploy_unstaked(&owner, &key)
                .map_err(e)?
        }
        ContractKind::Client => {
            let identity = data.reference(0).map_err(t)?;
            let mut p = identity.parser();
            let owner = load_addr(&mut p).map_err(c)?;
            let proxy_sc = load_addr(&mut p).map_err(c)?;
            // Checked before the engine deploys anything (a refused deploy leaves nothing).
            expect_derived(
                engine.devnet_party_address(true, &owner, &proxy_sc),
                &msg.dest,
            )?;
            // The init data carries `stake = min_client_stake`; no money is deposited.
            engine.client_deploy(&owner, &proxy_sc).map_err(e)?
        }
        ContractKind::Worker => {
            let mut p = data.parser();
            let owner = load_addr(&mut p).map_err(c)?;
            let proxy_sc = load_addr(&mut p).map_err(c)?;
            expect_derived(
                engine.devnet_party_address(false, &owner, &proxy_sc),
                &msg.dest,
            )?;
            engine.worker_deploy(&owner, &proxy_sc).map_err(e)?
        }
    };
    if deployed != msg.dest {
        return Err(format!(
            "the engine derived {} (root params differ from the init data's?)",
            deployed.to_hex()
        ));
    }
    st.contracts.insert(
        msg.dest.to_hex(),
        Deployed {
            kind,
            init_data: data,
        },
    );
    Ok(())
}

/// Refuses a deploy whose destination is not the address the engine would derive.
fn expect_derived(
    derived: Result<TonAddress, cocoon_ledger::ledger::LedgerError>,
    dest: &TonAddress,
) -> Result<(), String> {
    let derived = derived.map_err(|e| e.to_string())?;
    if &derived != dest {
        return Err(format!(
            "the engine derives {} (root params differ from the init data's?)",
            derived.to_hex()
        ));
    }
    Ok(())
}

/// Checks a proxy-signed `op | qid | excess | sig | ^(op | qid | sc)` addressed to `dest`.
fn check_proxy_signed(
    chain: &MockChain,
    body: &Cell,
    dest: &TonAddress,
) -> Result<TonAddress, String> {
    let snapshot = chain
        .engine
        .try_devnet_snapshot()
        .map_err(|e| e.to_string())?;
    let proxy = snapshot
        .proxies
        .get(&dest.to_hex())
        .ok_or("no such proxy contract")?;
    let key = VerifyingKey::from_bytes(&proxy.public_key).map_err(|e| e.to_string())?;
    let mut p = body.parser();
    let mut head = [0u8; 12];
    p.load_slice(&mut head).map_err(|e| e.to_string())?;
    load_addr(&mut p).map_err(|e| e.to_string())?;
    let mut sig = [0u8; 64];
    p.load_slice(&mut sig).map_err(|e| e.to_string())?;
    let inner = p.next_reference().map_err(|e| e.to_string())?;
    let mut q = inner.parser();
    let mut inner_head = [0u8; 12];
    q.load_slice(&mut inner_head).map_err(|e| e.to_string())?;
    let target = load_addr(&mut q).map_err(|e| e.to_string())?;
    if inner_head != head || &target != dest {
        return Err("signed inner cell does not match".into());
    }
    key.verify(&boc::cell_hash(&inner), &Signature::from_bytes(&sig))
        .map_err(|_| "bad proxy signature".to_string())?;
    address_of(&proxy.owner)
}

fn apply_body(
    chain: &MockChain,
    st: &mut MockState,
    from: &TonAddress,
    dest: &TonAddress,
    body: &ArcCell,
) -> Result<(), String> {
    let e = |e: cocoon_ledger::ledger::LedgerError| e.to_string();
    let t = |e: tonlib_core::cell::TonCellError| e.to_string();
    let engine = &chain.engine;
    let mut p = body.parser();
    let opcode = p.load_u32(32).map_err(t)?;
    let _qid = p.load_u64(64).map_err(t)?;
    let is_client = || match st.contracts.get(&dest.to_hex()) {
        Some(d) if d.kind == ContractKind::Client => Ok(()),
        _ => Err("not a client contract".to_string()),
    };
    match opcode {
        // The proxy contract ignores it; the proxy reads it back from the transaction.
        op::DO_NOT_PROCESS => Ok(()),
        op::EXT_PROXY_PAYOUT_REQUEST => {
            let snapshot = engine.try_devnet_snapshot().map_err(e)?;
            let owner = snapshot
                .proxies
                .get(&dest.to_hex())
                .ok_or("no such proxy contract")?
                .owner
                .clone();
            engine
                .proxy_payout(&address_of(&owner)?, dest)
                .map(|_| ())
                .map_err(e)
        }
        // Anyone may raise a proxy's stake; the sender's coins become the stake.
        op::EXT_PROXY_INCREASE_STAKE => {
            let amount = load_coins(&mut p).map_err(|e| e.to_string())?;
            engine
                .proxy_increase_stake(from, dest, amount)
                .map(|_| ())
                .map_err(e)
        }
        op::EXT_PROXY_CLOSE_REQUEST_SIGNED => {
            let owner = check_proxy_signed(chain, body, dest)?;
            engine
                .proxy_request_close(&owner, dest)
                .map(|_| ())
                .map_err(e)
        }
        op::EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED => {
            let owner = check_proxy_signed(chain, body, dest)?;
            engine
                .proxy_complete_close(&owner, dest)
                .map(|_| ())
                .map_err(e)
        }
        op::OWNER_CLIENT_REGISTER => {
            is_client()?;
            let nonce = p.load_u64(64).map_err(t)?;
            engine.client_register(from, dest, nonce).map_err(e)
        }
        op::OWNER_CLIENT_CHANGE_SECRET_HASH => {
            let hash = load_bits256(&mut p).map_err(|e| e.to_string())?;
            engine
                .client_change_secret_hash(from, dest, hash)
                .map_err(e)
        }
        op::EXT_CLIENT_TOP_UP => {
            let coins = load_coins(&mut p).map_err(|e| e.to_string())?;
            engine.client_top_up(from, dest, coins).map_err(e)
        }
        op::OWNER_CLIENT_REQUEST_REFUND => engine
            .client_request_refund(from, dest)
            .map(|_| ())
            .map_err(e),
        op::OWNER_CLIENT_WITHDRAW => engine.client_withdraw(from, dest).map(|_| ()).map_err(e),
        op::EXT_CLIENT_CHARGE_SIGNED => {
            let bytes = body_boc(body).map_err(|e| e.to_string())?;
            engine.client_charge(dest, &bytes).map(|_| ()).map_err(e)
        }
        op::EXT_WORKER_PAYOUT_REQUEST_SIGNED => {
            let bytes = body_boc(body).map_err(|e| e.to_string())?;
            engine.worker_payout(dest, &bytes).map(|_| ()).map_err(e)
        }
        // The close flow of an old proxy contract: the engine verifies the proxy signature
        // (as for vouchers) against the contract's proxy key.
        op::EXT_CLIENT_GRANT_REFUND_SIGNED => {
            let bytes = body_boc(body).map_err(|e| e.to_string())?;
            engine
                .client_grant_refund(dest, &bytes)
                .map(|_| ())
                .map_err(e)
        }
        op::EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED => {
            let bytes = body_boc(body).map_err(|e| e.to_string())?;
            engine
                .worker_last_payout(dest, &bytes)
                .map(|_| ())
                .map_err(e)
        }
        op::ROOT_ADD_PUBLIC_KEY_SIGNED if dest == &chain.root_address => {
            let signed = parse_key_registration(body)?;
            engine.root_add_public_key(from, &signed).map_err(e)?;
            // The root account is served from `st.root_config`: it gains the engine's list.
            let keys = engine.root_config().map_err(e)?.registered_public_keys;
            st.root_config.registered_public_keys = keys;
            st.root_config.version = st.root_config.version.saturating_add(1);
            Ok(())
        }
        other => Err(format!("opcode {other:#010x} is not simulated by the mock")),
    }
}

/// Balance and data cell of a deployed payment contract, from the engine's state.
pub(super) fn contract_data(
    chain: &MockChain,
    snapshot: &DevnetSnapshot,
    key: &str,
    deployed: &Deployed,
) -> Result<(NanoTon, Cell), ChainError> {
    let missing = || ChainError::Malformed(format!("engine has no contract {key}"));
    let m = |e: String| ChainError::Malformed(e);
    let c = |e: crate::cells::CellError| ChainError::Malformed(e.to_string());
    match deployed.kind {
        ContractKind::Proxy => {
            let s = snapshot.proxies.get(key).ok_or_else(missing)?;
            let owner = address_of(&s.owner).map_err(m)?;
            let data = accounts::proxy_data(s, &owner, &chain.root_address, &deployed.init_data)
                .map_err(c)?;
            Ok((accounts::proxy_balance(s), data))
        }
        ContractKind::Client => {
            let s = snapshot.clients.get(key).ok_or_else(missing)?;
            // A client contract holds no money (gas aside): its balance is a figure.
            Ok((0, accounts::client_data(s, &deployed.init_data).map_err(c)?))
        }
        ContractKind::Worker => {
            let s = snapshot.workers.get(key).ok_or_else(missing)?;
            let owner = address_of(&s.owner).map_err(m)?;
            let proxy_sc = address_of(&s.proxy_sc).map_err(m)?;
            let proxy_key = snapshot
                .proxies
                .get(&s.proxy_sc)
                .map(|p| p.public_key)
                .ok_or_else(missing)?;
            let data = accounts::worker_data(s, &owner, &proxy_sc, &proxy_key, &deployed.init_data)
                .map_err(c)?;
            Ok((0, data))
        }
    }
}
