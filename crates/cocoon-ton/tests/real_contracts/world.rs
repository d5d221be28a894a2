//! The real contracts deployed for a test: one proxy contract (its key, its owner wallet),
//! and helpers that deploy clients and workers. Init data and every message body are built
//! with OUR encoders (`cocoon_ledger::address`, `cocoon_ton::messages`), so each test also
//! checks them against the real code. Parameters are those of contracts.md §4.

use std::sync::Arc;

use cocoon_ledger::accounting::{Multipliers, NanoTon, ONE_TON};
use cocoon_ledger::address::{
    client_data_cell, contract_address, proxy_data_cell, worker_data_cell,
};
use cocoon_ledger::root_config::{ContractCodes, RootParams};
use cocoon_ton::messages::{self, op};
use ed25519_dalek::SigningKey;
use tonlib_core::cell::Cell;
use tonlib_core::{TonAddress, TonHash};

use super::driver::{Account, Sandbox, Trace};

/// The chain clock at the start.
pub const START: u64 = 1_700_000_000;
/// Gas the runners attach to owner operations and vouchers.
pub const STANDARD: NanoTon = messages::value::STANDARD;

pub fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

/// contracts.md §4: price 10 000, worker fee 9 000 (100 000 tokens cost 1 TON), client
/// stake 1 TON, delays 3600 / 7200; struct version 3 (the only one this code accepts).
pub fn params() -> RootParams {
    RootParams {
        struct_version: 3,
        params_version: 1,
        unique_id: 13,
        is_test: true,
        price_per_token: 10_000,
        worker_fee_per_token: 9_000,
        multipliers: Multipliers::default(),
        proxy_delay_before_close: 7200,
        client_delay_before_close: 3600,
        min_proxy_stake: 2 * ONE_TON,
        min_client_stake: ONE_TON,
    }
}

/// The real contracts with a deployed proxy contract.
pub struct Real {
    pub sb: Sandbox,
    pub codes: ContractCodes,
    pub params: RootParams,
    pub proxy_key: SigningKey,
    pub proxy_owner: TonAddress,
    pub proxy_sc: TonAddress,
}

impl Real {
    /// Deploys the proxy contract as the runners do: StateInit, empty body, 1 TON.
    pub fn start() -> Option<Real> {
        let mut sb = Sandbox::start(START)?;
        let codes = ContractCodes {
            proxy: sb.code("proxy"),
            worker: sb.code("worker"),
            client: sb.code("client"),
        };
        let params = params();
        let proxy_key = SigningKey::from_bytes(&[0x5a; 32]);
        let proxy_owner = addr(0x0a);
        let data = proxy_data_cell(
            &proxy_owner,
            &proxy_key.verifying_key(),
            &addr(0x01),
            &params,
            &codes,
        )
        .expect("proxy data");
        let proxy_sc = contract_address(&codes.proxy, &Arc::new(data.clone())).expect("address");
        let trace = sb.send(
            &proxy_owner,
            &proxy_sc,
            ONE_TON,
            None,
            Some((&codes.proxy, &data)),
        );
        assert_eq!(trace.first_exit(), Some(0), "proxy deploy: {trace:#?}");
        Some(Real {
            sb,
            codes,
            params,
            proxy_key,
            proxy_owner,
            proxy_sc,
        })
    }

    /// `ext_proxy_increase_stake` of `amount`, sent by `from` with `amount + 0.2 TON`.
    pub fn increase_stake(&mut self, from: &TonAddress, amount: NanoTon) -> Trace {
        let body = messages::proxy_increase_stake_body(1, amount, from).expect("body");
        let proxy_sc = self.proxy_sc.clone();
        let value = amount + messages::value::PROXY_INCREASE_STAKE_GAS;
        self.sb.send(from, &proxy_sc, value, Some(&body), None)
    }

    fn deploy(
        &mut self,
        owner: &TonAddress,
        code_name: &str,
        data: Cell,
        value: NanoTon,
    ) -> TonAddress {
        let code = self.sb.code(code_name);
        let sc = contract_address(&code, &Arc::new(data.clone())).expect("address");
        let trace = self.sb.send(owner, &sc, value, None, Some((&code, &data)));
        assert_eq!(
            trace.first_exit(),
            Some(0),
            "{code_name} deploy: {trace:#?}"
        );
        sc
    }

    /// Deploys the client contract of wallet `owner` (0.8 TON, as the runners do).
    pub fn deploy_client(&mut self, owner: &TonAddress) -> TonAddress {
        let key = self.proxy_key.verifying_key();
        let data = client_data_cell(owner, &self.proxy_sc, &key, &self.params, &self.codes)
            .expect("client data");
        self.deploy(owner, "client", data, messages::value::DEPLOY_CLIENT)
    }

    /// Deploys the worker contract of wallet `owner` (0.3 TON, as the runners do).
    pub fn deploy_worker(&mut self, owner: &TonAddress) -> TonAddress {
        let key = self.proxy_key.verifying_key();
        let data = worker_data_cell(owner, &self.proxy_sc, &key, &self.params, &self.codes)
            .expect("worker data");
        self.deploy(
            owner,
            "worker",
            data,
            messages::value::DEPLOY_PROXY_OR_WORKER,
        )
    }

    /// `ext_client_top_up` of `amount` from the owner (value `amount + 0.7 TON`).
    pub fn top_up(&mut self, owner: &TonAddress, client_sc: &TonAddress, amount: NanoTon) -> Trace {
        let body = messages::client_top_up_body(2, amount, owner).expect("body");
        self.sb
            .send(owner, client_sc, amount + STANDARD, Some(&body), None)
    }

    /// `owner_client_request_refund` (0.7 TON).
    pub fn request_refund(&mut self, owner: &TonAddress, client_sc: &TonAddress) -> Trace {
        let body = messages::client_request_refund_body(3, owner).expect("body");
        self.sb.send(owner, client_sc, STANDARD, Some(&body), None)
    }

    /// `owner_client_withdraw` (0.7 TON).
    pub fn withdraw(&mut self, owner: &TonAddress, client_sc: &TonAddress) -> Trace {
        let body = messages::client_withdraw_body(4, owner).expect("body");
        self.sb.send(owner, client_sc, STANDARD, Some(&body), None)
    }

    pub fn account(&mut self, address: &TonAddress) -> Account {
        self.sb.account(address)
    }

    /// The payouts (`0xc59a7cd3`) `to` received in `trace`, in nanoTON.
    pub fn payouts_to(trace: &Trace, to: &TonAddress) -> Vec<NanoTon> {
        trace
            .sent_to(to)
            .into_iter()
            .filter(|m| m.op == Some(op::PAYOUT))
            .map(|m| m.value())
            .collect()
    }
}
