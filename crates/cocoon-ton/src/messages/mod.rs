//! Contract messages (runners.md §6.7, delta §3.3): the opcodes, the message values the
//! runners attach, builders of every body the runners send, the internal message a cocoon
//! wallet carries and the external message handed to a liteserver, and parsers of the
//! messages the proxy contract observes.
//!
//! Bodies start with `op:u32 qid:u64`. Addresses are `addr_std` (`10 0 wc:i8 hash:256`),
//! coins are `VarUInteger 16`. Proxy-signed bodies are "wrapped" (see [`bodies::sign_and_wrap`]):
//! `op | qid | excess_to | signature:512 | ^inner`, the signature covering the inner cell's
//! representation hash.

pub mod bodies;
pub mod envelope;
pub mod model_notice;
pub mod observed;

pub use bodies::*;
pub use envelope::{deploy_message, external_message_cell, internal_message_cell, OutgoingMessage};
pub use observed::{
    client_proxy_request_body, parse_proxy_inbound, worker_proxy_request_body, ClientProxyPayload,
    ClientProxyRequest, ClientStateUpdate, InboundError, ProxyContractContext, ProxyInbound,
    WorkerProxyPayload, WorkerProxyRequest,
};

/// Opcodes (`Opcodes.hpp` of the reference, April 2026).
pub mod op {
    /// `excesses` (returned change; not sent by the runners).
    pub const EXCESSES: u32 = 0x2565_934c;
    /// `payout` (not sent by the runners).
    pub const PAYOUT: u32 = 0xc59a_7cd3;
    /// `do_not_process`: the contract ignores the body (carries the proxy's `save_state`).
    pub const DO_NOT_PROCESS: u32 = 0x9a12_47c0;
    /// `proxy_save_state`, inside `do_not_process`.
    pub const PROXY_SAVE_STATE: u32 = 0x5310_9c0f;

    /// `root_add_public_key_signed` (key manager → root, delta §3.3).
    pub const ROOT_ADD_PUBLIC_KEY_SIGNED: u32 = 0x9e0e_1821;
    /// `root_change_key_manager` (owner operation; layout unpublished, not sent).
    pub const ROOT_CHANGE_KEY_MANAGER: u32 = 0xb01c_0fe9;
    /// `root_add_public_key` (owner operation; layout unpublished, not sent).
    pub const ROOT_ADD_PUBLIC_KEY: u32 = 0x6e5a_646a;

    /// `worker_proxy_request` (worker contract → proxy contract).
    pub const WORKER_PROXY_REQUEST: u32 = 0x4d72_5d2c;
    /// `worker_proxy_payout_request` payload.
    pub const WORKER_PROXY_PAYOUT_REQUEST: u32 = 0x08e7_d036;
    /// `client_proxy_request` (client contract → proxy contract).
    pub const CLIENT_PROXY_REQUEST: u32 = 0x6544_8ff4;
    /// `client_proxy_top_up` payload.
    pub const CLIENT_PROXY_TOP_UP: u32 = 0x5cfc_6b87;
    /// `client_proxy_register` payload.
    pub const CLIENT_PROXY_REGISTER: u32 = 0xa35c_b580;
    /// `client_proxy_refund_granted` payload.
    pub const CLIENT_PROXY_REFUND_GRANTED: u32 = 0xc68e_bc7b;
    /// `client_proxy_refund_force` payload.
    pub const CLIENT_PROXY_REFUND_FORCE: u32 = 0xf4c3_54c9;

    /// `ext_proxy_payout_request`.
    pub const EXT_PROXY_PAYOUT_REQUEST: u32 = 0x7610_e6eb;
    /// `ext_proxy_increase_stake` (anyone → proxy contract; the only way its stake grows).
    pub const EXT_PROXY_INCREASE_STAKE: u32 = 0x9713_f187;
    /// `ext_proxy_close_request_signed`.
    pub const EXT_PROXY_CLOSE_REQUEST_SIGNED: u32 = 0x636a_4391;
    /// `ext_proxy_close_complete_request_signed`.
    pub const EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED: u32 = 0xe511_abc7;
    /// `ext_worker_payout_request_signed`.
    pub const EXT_WORKER_PAYOUT_REQUEST_SIGNED: u32 = 0xa040_ad28;
    /// `ext_worker_last_payout_request_signed`.
    pub const EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED: u32 = 0xf5f2_6a36;
    /// `ext_client_top_up`.
    pub const EXT_CLIENT_TOP_UP: u32 = 0xf172_e6c2;
    /// `ext_client_charge_signed`.
    pub const EXT_CLIENT_CHARGE_SIGNED: u32 = 0xbb63_ff93;
    /// `ext_client_grant_refund_signed`.
    pub const EXT_CLIENT_GRANT_REFUND_SIGNED: u32 = 0xefd7_11e1;
    /// `owner_client_register`.
    pub const OWNER_CLIENT_REGISTER: u32 = 0xc45f_9f3b;
    /// `owner_client_change_secret_hash`.
    pub const OWNER_CLIENT_CHANGE_SECRET_HASH: u32 = 0xa935_7034;
    /// `owner_client_request_refund`.
    pub const OWNER_CLIENT_REQUEST_REFUND: u32 = 0xfafa_6cc1;
    /// `owner_client_withdraw`.
    pub const OWNER_CLIENT_WITHDRAW: u32 = 0xda06_8e78;
}

/// The nanoTON value the runners attach to each message (§6.4–§6.7, §6.9, delta §3.2).
pub mod value {
    use cocoon_ledger::accounting::{NanoTon, ONE_TON};

    /// `save_state` (sent with send mode 1: fees paid separately).
    pub const PROXY_SAVE_STATE: NanoTon = 1;
    /// `ext_proxy_payout_request`.
    pub const PROXY_PAYOUT_REQUEST: NanoTon = ONE_TON / 5;
    /// `ext_proxy_increase_stake`, on top of the staked amount (the contract wants at least
    /// 0.1 TON more than the amount; the excess comes back).
    pub const PROXY_INCREASE_STAKE_GAS: NanoTon = ONE_TON / 5;
    /// `ext_client_charge_signed`, `ext_client_grant_refund_signed` from a live proxy,
    /// `ext_worker_payout_request_signed` from the proxy, and every client owner operation
    /// except register (top-up adds the topped-up coins).
    pub const STANDARD: NanoTon = ONE_TON * 7 / 10;
    /// `owner_client_register`, and every message of an old proxy contract's close flow
    /// (close request, refunds, last payouts, close complete).
    pub const REGISTER_AND_CLOSE_FLOW: NanoTon = ONE_TON;
    /// A repacked worker voucher submitted by the worker.
    pub const WORKER_SUBMITS_VOUCHER: NanoTon = ONE_TON / 2;
    /// `root_add_public_key_signed` from the key manager.
    pub const ROOT_ADD_PUBLIC_KEY: NanoTon = ONE_TON * 4 / 10;
    /// Deploying a proxy or worker contract (StateInit, empty body).
    pub const DEPLOY_PROXY_OR_WORKER: NanoTon = ONE_TON * 3 / 10;
    /// Deploying a client contract (StateInit, empty body).
    pub const DEPLOY_CLIENT: NanoTon = ONE_TON * 8 / 10;
}

#[cfg(test)]
mod tests;
