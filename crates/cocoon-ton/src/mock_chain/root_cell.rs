//! Writes a root contract data cell (§6.8, delta §3.7) from a [`RootConfig`] and the
//! contract codes, in the layout [`crate::root_state::parse_root_state`] reads, for the
//! struct version in `config.params`. Used by the mock chain to serve the root account;
//! the key manager image hash is written as zeros, the verified-key lists empty.

use std::collections::HashMap;
use std::sync::Arc;

use cocoon_ledger::root_config::{
    ContractCodes, RootConfig, CODE_MASK_CLIENT, CODE_MASK_PROXY, CODE_MASK_WORKER,
};
use num_bigint::BigUint;
use tonlib_core::cell::{Cell, CellBuilder, TonCellError};
use tonlib_core::TonAddress;

use crate::cells::{finish, layout, store_addr, store_net_addr, CellError};

fn no_value(_: &mut CellBuilder, _: ()) -> Result<(), TonCellError> {
    Ok(())
}

fn bytes_value(b: &mut CellBuilder, v: Vec<u8>) -> Result<(), TonCellError> {
    b.store_slice(&v)?;
    Ok(())
}

fn hash_set(b: &mut CellBuilder, keys: &[[u8; 32]]) -> Result<(), CellError> {
    let map: HashMap<BigUint, ()> = keys
        .iter()
        .map(|k| (BigUint::from_bytes_be(k), ()))
        .collect();
    b.store_dict(256, no_value, map)?;
    Ok(())
}

fn net_addr_bytes(text: &str) -> Result<Vec<u8>, CellError> {
    let mut b = CellBuilder::new();
    store_net_addr(&mut b, text)?;
    let cell = finish(b)?;
    let mut p = cell.parser();
    let mut out = vec![0u8; cell.bit_len() / 8];
    p.load_slice(&mut out)?;
    Ok(out)
}

fn data_cell(config: &RootConfig) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    hash_set(&mut b, &config.proxy_hashes)?;
    let mut proxies: HashMap<BigUint, Vec<u8>> = HashMap::new();
    for proxy in &config.registered_proxies {
        let text = if proxy.worker_address == proxy.client_address {
            proxy.worker_address.clone()
        } else {
            format!("{} {}", proxy.worker_address, proxy.client_address)
        };
        proxies.insert(BigUint::from(proxy.seqno), net_addr_bytes(&text)?);
    }
    b.store_dict(32, bytes_value, proxies)?;
    b.store_u32(32, config.last_proxy_seqno)?;
    hash_set(&mut b, &config.worker_hashes)?;
    hash_set(&mut b, &config.model_hashes)?;
    finish(b)
}

fn key_manager_cell(config: &RootConfig) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    let keys: HashMap<BigUint, Vec<u8>> = config
        .registered_public_keys
        .iter()
        .map(|k| {
            let mut value = vec![k.key_type];
            value.extend_from_slice(&k.expire_at.to_be_bytes());
            (BigUint::from_bytes_be(&k.public_key), value)
        })
        .collect();
    b.store_dict(256, bytes_value, keys)?;
    b.store_slice(&config.key_manager_public_key)?;
    b.store_slice(&config.key_manager_image_hash)?;
    store_net_addr(&mut b, config.key_manager_address.as_deref().unwrap_or(""))?;
    finish(b)
}

/// The root data cell for `config` (its `params.struct_version` selects the layout), owned
/// by `owner`, publishing `codes`.
pub fn root_data_cell(
    owner: &TonAddress,
    config: &RootConfig,
    codes: &ContractCodes,
) -> Result<Cell, CellError> {
    let sv = config.params.struct_version;
    if sv > crate::root_state::MAX_STRUCT_VERSION {
        return Err(layout(format!("struct version {sv} is not writable")));
    }
    let params = config
        .params
        .to_cell(codes, CODE_MASK_PROXY | CODE_MASK_WORKER | CODE_MASK_CLIENT)?;
    let mut b = CellBuilder::new();
    store_addr(&mut b, owner)?;
    b.store_reference(&Arc::new(data_cell(config)?))?;
    b.store_reference(&Arc::new(params))?;
    b.store_u32(32, config.version)?;
    if sv >= 4 {
        b.store_reference(&Arc::new(key_manager_cell(config)?))?;
    }
    if sv >= 5 {
        let mut v = CellBuilder::new();
        for _ in 0..3 {
            v.store_bit(false)?;
        }
        b.store_reference(&Arc::new(finish(v)?))?;
    }
    finish(b)
}
