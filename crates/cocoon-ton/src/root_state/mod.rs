//! The root contract's on-chain data (§6.8, delta §3.7) for `struct_version` 0–5, parsed
//! into [`RootConfig`] plus what that type does not carry ([`RootState`]).
//!
//! ```text
//! root:   owner:addr | ^data | ^params | version:u32 | [sv≥4] ^key_manager | [sv≥5] ^verified_keys
//! params: struct_version:u8 (≤5) | params_version:u32 | unique_id:u32 | is_test:1
//!         | price_per_token:coins | worker_fee_per_token:coins
//!         | [sv≥3] prompt:u32 | [sv≥2] cached:u32 | [sv≥3] completion:u32 | [sv≥2] reasoning:u32
//!         | proxy_delay_before_close:u32 | client_delay_before_close:u32
//!         | [sv≥1] min_proxy_stake:coins | min_client_stake:coins
//!         | Maybe ^proxy_code | Maybe ^worker_code | Maybe ^client_code
//! data:   Maybe ^dict256(proxy image hashes) | Maybe ^dict32(seqno → net_addr "w[ c]")
//!         | last_proxy_seqno:u32 | Maybe ^dict256(worker hashes) | Maybe ^dict256(model hashes)
//! key_manager: Maybe ^dict256(pubkey → key_type:u8 expire_at:u32) | km_pubkey:256
//!         | km_image_hash:256 | net_addr (length 0 = none)
//! verified_keys: Maybe ^dict256 (proxy) | Maybe ^dict256 (worker) | Maybe ^dict256 (key manager)
//! ```
//! Every cell must end where its layout ends. Missing multipliers default to 10000, missing
//! stakes to 1 TON; coins above 64 bits are rejected (the reference reads u64). A proxy entry
//! whose address is not a known `net_addr` or not `ip:port` (IPv4) is skipped, as in the
//! reference; every other malformation fails the whole parse. Hash and key lists are
//! returned sorted. Input BoCs are bounded in bytes, cells and depth, dictionaries in
//! entries.

use cocoon_ledger::accounting::{Multipliers, NanoTon, ONE_TON};
use cocoon_ledger::boc;
use cocoon_ledger::root_config::{RegisteredProxy, RegisteredPublicKey, RootConfig, RootParams};
use tonlib_core::cell::{ArcCell, Cell, CellParser};
use tonlib_core::TonAddress;

use crate::cells::{
    expect_end, layout, load_addr, load_bits256, load_coins_u64, load_maybe_ref, load_net_addr,
    parse_ipv4_endpoint, CellError,
};
use crate::dict::{collect_keys256, for_each_entry};

/// Highest `struct_version` understood.
pub const MAX_STRUCT_VERSION: u8 = 5;
/// Largest root data BoC accepted.
pub const MAX_ROOT_BOC_BYTES: usize = 1 << 20;
/// Most cells accepted in a root data BoC.
pub const MAX_ROOT_CELLS: usize = 8192;
/// Deepest cell tree accepted.
pub const MAX_ROOT_DEPTH: u16 = 1024;
/// Most entries accepted in one dictionary.
pub const MAX_DICT_ENTRIES: usize = 4096;
/// Multiplier used when the struct version has none (1.0×).
pub const DEFAULT_MULTIPLIER: u32 = 10_000;
/// Stake used when the struct version has none.
pub const DEFAULT_MIN_STAKE: NanoTon = ONE_TON;

/// Contract codes published by the root (each optional in the layout).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RootCodes {
    /// Proxy contract code.
    pub proxy: Option<ArcCell>,
    /// Worker contract code.
    pub worker: Option<ArcCell>,
    /// Client contract code.
    pub client: Option<ArcCell>,
}

impl RootCodes {
    /// All three codes, when the root publishes all three.
    pub fn contract_codes(&self) -> Option<cocoon_ledger::root_config::ContractCodes> {
        Some(cocoon_ledger::root_config::ContractCodes {
            proxy: self.proxy.clone()?,
            worker: self.worker.clone()?,
            client: self.client.clone()?,
        })
    }
}

/// The parsed root contract state.
#[derive(Clone, Debug, PartialEq)]
pub struct RootState {
    /// Everything the nodes share with the devnet.
    pub config: RootConfig,
    /// Root owner.
    pub owner: TonAddress,
    /// Contract codes.
    pub codes: RootCodes,
    /// Verified proxy keys (sorted; sv ≥ 5).
    pub verified_proxy_keys: Vec<[u8; 32]>,
    /// Verified worker keys (sorted; sv ≥ 5).
    pub verified_worker_keys: Vec<[u8; 32]>,
    /// Verified key manager keys (sorted; sv ≥ 5).
    pub verified_key_manager_keys: Vec<[u8; 32]>,
    /// Proxy entries skipped as unparsable.
    pub skipped_proxies: usize,
}

/// Parses the root data from its BoC with the size, cell-count and depth limits.
pub fn parse_root_state_boc(bytes: &[u8]) -> Result<RootState, CellError> {
    let root = boc::parse_single_root(bytes, MAX_ROOT_BOC_BYTES, MAX_ROOT_CELLS)?;
    if root.cell_depth() > MAX_ROOT_DEPTH {
        return Err(CellError::Limit {
            what: "root cell depth",
            limit: usize::from(MAX_ROOT_DEPTH),
        });
    }
    parse_root_state(&root)
}

/// Parses the root contract data cell.
pub fn parse_root_state(root: &Cell) -> Result<RootState, CellError> {
    let mut p = root.parser();
    let owner = load_addr(&mut p)?;
    let data = p.next_reference()?;
    let params_cell = p.next_reference()?;
    let (params, codes) = parse_params(&params_cell)?;
    let sv = params.struct_version;
    let version = p.load_u32(32)?;
    let mut config = RootConfig {
        version,
        params,
        proxy_hashes: Vec::new(),
        worker_hashes: Vec::new(),
        model_hashes: Vec::new(),
        registered_proxies: Vec::new(),
        last_proxy_seqno: 0,
        registered_public_keys: Vec::new(),
        key_manager_address: None,
        key_manager_public_key: [0; 32],
        key_manager_image_hash: [0; 32],
    };
    let skipped_proxies = parse_data(&data, &mut config)?;
    let mut state = RootState {
        config,
        owner,
        codes,
        verified_proxy_keys: Vec::new(),
        verified_worker_keys: Vec::new(),
        verified_key_manager_keys: Vec::new(),
        skipped_proxies,
    };
    if sv >= 4 {
        let cell = p.next_reference()?;
        parse_key_manager(&cell, &mut state)?;
    }
    if sv >= 5 {
        let cell = p.next_reference()?;
        let mut v = cell.parser();
        state.verified_proxy_keys = keys256(&mut v)?;
        state.verified_worker_keys = keys256(&mut v)?;
        state.verified_key_manager_keys = keys256(&mut v)?;
        expect_end(&mut v, "the verified keys cell")?;
    }
    expect_end(&mut p, "the root cell")?;
    Ok(state)
}

fn keys256(p: &mut CellParser<'_>) -> Result<Vec<[u8; 32]>, CellError> {
    collect_keys256(load_maybe_ref(p)?.as_ref(), MAX_DICT_ENTRIES)
}

fn parse_params(cell: &Cell) -> Result<(RootParams, RootCodes), CellError> {
    let mut p = cell.parser();
    let sv = p.load_u8(8)?;
    if sv > MAX_STRUCT_VERSION {
        return Err(layout(format!("unexpected params struct version {sv}")));
    }
    let params_version = p.load_u32(32)?;
    let unique_id = p.load_u32(32)?;
    let is_test = p.load_bit()?;
    let price_per_token = load_coins_u64(&mut p)?;
    let worker_fee_per_token = load_coins_u64(&mut p)?;
    let mut multiplier = |present: bool| -> Result<u32, CellError> {
        Ok(if present {
            p.load_u32(32)?
        } else {
            DEFAULT_MULTIPLIER
        })
    };
    let prompt = multiplier(sv >= 3)?;
    let cached = multiplier(sv >= 2)?;
    let completion = multiplier(sv >= 3)?;
    let reasoning = multiplier(sv >= 2)?;
    let proxy_delay_before_close = p.load_u32(32)?;
    let client_delay_before_close = p.load_u32(32)?;
    let (min_proxy_stake, min_client_stake) = if sv >= 1 {
        (
            NanoTon::from(load_coins_u64(&mut p)?),
            NanoTon::from(load_coins_u64(&mut p)?),
        )
    } else {
        (DEFAULT_MIN_STAKE, DEFAULT_MIN_STAKE)
    };
    let codes = RootCodes {
        proxy: load_maybe_ref(&mut p)?,
        worker: load_maybe_ref(&mut p)?,
        client: load_maybe_ref(&mut p)?,
    };
    expect_end(&mut p, "the params cell")?;
    let params = RootParams {
        struct_version: sv,
        params_version,
        unique_id,
        is_test,
        price_per_token,
        worker_fee_per_token,
        multipliers: Multipliers {
            prompt,
            cached,
            completion,
            reasoning,
        },
        proxy_delay_before_close,
        client_delay_before_close,
        min_proxy_stake,
        min_client_stake,
    };
    Ok((params, codes))
}

/// Fills the hash lists and proxies; returns the number of skipped proxy entries.
fn parse_data(cell: &Cell, config: &mut RootConfig) -> Result<usize, CellError> {
    let mut p = cell.parser();
    config.proxy_hashes = keys256(&mut p)?;
    let mut skipped = 0;
    if let Some(dict) = load_maybe_ref(&mut p)? {
        let proxies = &mut config.registered_proxies;
        for_each_entry(&dict, 32, MAX_DICT_ENTRIES, |key, value| {
            let seqno = u32::from_be_bytes(
                key.try_into()
                    .map_err(|_| layout("32-bit key of the wrong size"))?,
            );
            match proxy_entry(seqno, value) {
                Some(proxy) => proxies.push(proxy),
                None => skipped += 1,
            }
            Ok(())
        })?;
    }
    config.last_proxy_seqno = p.load_u32(32)?;
    config.worker_hashes = keys256(&mut p)?;
    config.model_hashes = keys256(&mut p)?;
    expect_end(&mut p, "the root data cell")?;
    Ok(skipped)
}

/// One proxy entry, or `None` when the reference would skip it.
fn proxy_entry(seqno: u32, value: &mut CellParser<'_>) -> Option<RegisteredProxy> {
    let bytes = load_net_addr(value).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (worker_address, client_address) = match text.split_once(' ') {
        None => {
            let a = parse_ipv4_endpoint(text)?;
            (a.clone(), a)
        }
        Some((w, c)) => (parse_ipv4_endpoint(w)?, parse_ipv4_endpoint(c)?),
    };
    Some(RegisteredProxy {
        seqno,
        worker_address,
        client_address,
    })
}

fn parse_key_manager(cell: &Cell, state: &mut RootState) -> Result<(), CellError> {
    let mut p = cell.parser();
    let mut keys = Vec::new();
    if let Some(dict) = load_maybe_ref(&mut p)? {
        for_each_entry(&dict, 256, MAX_DICT_ENTRIES, |key, value| {
            let public_key: [u8; 32] = key
                .try_into()
                .map_err(|_| layout("256-bit key of the wrong size"))?;
            let key_type = value.load_u8(8)?;
            let expire_at = value.load_u32(32)?;
            expect_end(value, "a registered public key")?;
            keys.push(RegisteredPublicKey {
                public_key,
                key_type,
                expire_at,
            });
            Ok(())
        })?;
    }
    state.config.key_manager_public_key = load_bits256(&mut p)?;
    state.config.key_manager_image_hash = load_bits256(&mut p)?;
    let addr = load_net_addr(&mut p)?;
    expect_end(&mut p, "the key manager cell")?;
    state.config.key_manager_address = if addr.is_empty() {
        None
    } else {
        let text = std::str::from_utf8(&addr).map_err(|_| layout("key manager address"))?;
        Some(
            parse_ipv4_endpoint(text)
                .ok_or_else(|| layout(format!("key manager address {text:?}")))?,
        )
    };
    state.config.registered_public_keys = keys;
    Ok(())
}

/// What [`RootTracker::offer`] did with a freshly read root state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Adoption {
    /// Adopted: the first state, or a higher `version`.
    Adopted {
        /// `params_version` increased (payment contracts must be re-created).
        params_changed: bool,
    },
    /// Kept the current state: the offered `version` is not higher.
    Ignored {
        /// Version kept.
        current: u32,
        /// Version offered.
        offered: u32,
    },
}

/// The root contract's `is_test` differs from the node's (the reference aborts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("root contract is_test = {root}, node is_test = {node}")]
pub struct TestFlagMismatch {
    /// Root's flag.
    pub root: bool,
    /// Node's flag.
    pub node: bool,
}

/// Holds the adopted root state; adopts only strictly higher `version`s (§3.1).
#[derive(Clone, Debug)]
pub struct RootTracker {
    is_test: bool,
    current: Option<RootState>,
}

impl RootTracker {
    /// A tracker for a node with this `is_test` flag.
    pub fn new(is_test: bool) -> RootTracker {
        RootTracker {
            is_test,
            current: None,
        }
    }

    /// The adopted state.
    pub fn current(&self) -> Option<&RootState> {
        self.current.as_ref()
    }

    /// Offers a freshly read state.
    pub fn offer(&mut self, state: RootState) -> Result<Adoption, TestFlagMismatch> {
        if state.config.params.is_test != self.is_test {
            return Err(TestFlagMismatch {
                root: state.config.params.is_test,
                node: self.is_test,
            });
        }
        let params_changed = match &self.current {
            Some(cur) if state.config.version <= cur.config.version => {
                return Ok(Adoption::Ignored {
                    current: cur.config.version,
                    offered: state.config.version,
                });
            }
            Some(cur) => state.config.params.params_version > cur.config.params.params_version,
            None => false,
        };
        self.current = Some(state);
        Ok(Adoption::Adopted { params_changed })
    }
}

#[cfg(test)]
mod tests;
