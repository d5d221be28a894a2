//! Contract addresses (§6.9): StateInit hashing, the init data cells of the proxy, worker
//! and client contracts, and user-friendly address text.
//!
//! The derivation is the reference's: workchain 0, representation hash of the StateInit
//! cell `0 0 1 1 0` + refs `[code, data]`. The code cells come from the root config. The
//! **devnet** has no real contract code: [`devnet_placeholder_code`] makes clearly named
//! placeholder cells (ASCII text), so devnet addresses are well-formed but differ from
//! mainnet/testnet ones.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use tonlib_core::cell::{ArcCell, Cell, CellBuilder};
use tonlib_core::{TonAddress, TonHash};

use crate::accounting::NanoTon;
use crate::boc::{self, BocError};
use crate::root_config::{ContractCodes, RootParams, CODE_MASK_CLIENT, CODE_MASK_WORKER};

/// The three payment contract types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ContractKind {
    /// Proxy contract.
    Proxy,
    /// Worker contract.
    Worker,
    /// Client contract.
    Client,
}

/// A devnet placeholder "code" cell: the ASCII text `cocoon-devnet placeholder <kind>
/// contract code`. Not executable; only used to derive devnet addresses.
pub fn devnet_placeholder_code(kind: ContractKind) -> Result<Cell, BocError> {
    let text = match kind {
        ContractKind::Proxy => "cocoon-devnet placeholder proxy contract code",
        ContractKind::Worker => "cocoon-devnet placeholder worker contract code",
        ContractKind::Client => "cocoon-devnet placeholder client contract code",
    };
    let mut b = CellBuilder::new();
    b.store_slice(text.as_bytes())?;
    Ok(b.build()?)
}

/// The three devnet placeholder code cells.
pub fn devnet_placeholder_codes() -> Result<ContractCodes, BocError> {
    Ok(ContractCodes {
        proxy: Arc::new(devnet_placeholder_code(ContractKind::Proxy)?),
        worker: Arc::new(devnet_placeholder_code(ContractKind::Worker)?),
        client: Arc::new(devnet_placeholder_code(ContractKind::Client)?),
    })
}

/// StateInit cell: bits `00110` (no split depth, not special, code, data, no library) and
/// refs `[code, data]`.
pub fn state_init_cell(code: &ArcCell, data: &ArcCell) -> Result<Cell, BocError> {
    let mut b = CellBuilder::new();
    b.store_u8(5, 0b00110)?;
    b.store_reference(code)?;
    b.store_reference(data)?;
    Ok(b.build()?)
}

/// Address of the contract with this code and data, on workchain 0.
pub fn contract_address(code: &ArcCell, data: &ArcCell) -> Result<TonAddress, BocError> {
    let init = state_init_cell(code, data)?;
    Ok(TonAddress::new(0, TonHash::from(boc::cell_hash(&init))))
}

/// Proxy contract init data: `owner | proxy_pubkey | root | state:2=0 | balance=0 | stake=0
/// | unlock_ts:u32=0 | ^params(mask 6)`.
pub fn proxy_data_cell(
    owner: &TonAddress,
    proxy_key: &VerifyingKey,
    root: &TonAddress,
    params: &RootParams,
    codes: &ContractCodes,
) -> Result<Cell, BocError> {
    let mut b = CellBuilder::new();
    boc::store_addr_std(&mut b, owner)?;
    b.store_slice(proxy_key.as_bytes())?;
    boc::store_addr_std(&mut b, root)?;
    b.store_u8(2, 0)?;
    boc::store_coins(&mut b, 0)?;
    boc::store_coins(&mut b, 0)?;
    b.store_u32(32, 0)?;
    b.store_reference(&Arc::new(
        params.to_cell(codes, CODE_MASK_WORKER | CODE_MASK_CLIENT)?,
    ))?;
    Ok(b.build()?)
}

/// Worker contract init data: `owner | proxy_sc | proxy_pubkey | state:2=0 | tokens:u64=0 |
/// ^params(mask 0)`.
pub fn worker_data_cell(
    owner: &TonAddress,
    proxy_sc: &TonAddress,
    proxy_key: &VerifyingKey,
    params: &RootParams,
    codes: &ContractCodes,
) -> Result<Cell, BocError> {
    let mut b = CellBuilder::new();
    boc::store_addr_std(&mut b, owner)?;
    boc::store_addr_std(&mut b, proxy_sc)?;
    b.store_slice(proxy_key.as_bytes())?;
    b.store_u8(2, 0)?;
    b.store_u64(64, 0)?;
    b.store_reference(&Arc::new(params.to_cell(codes, 0)?))?;
    Ok(b.build()?)
}

/// Client contract init data: `state:2=0 | balance=0 | stake=min_client_stake |
/// tokens_used:u64=0 | unlock_ts:u32=0 | secret_hash:256=0 | ^(owner | proxy_sc |
/// proxy_pubkey) | ^params(mask 0)`; `owner` is the client's wallet address.
pub fn client_data_cell(
    owner: &TonAddress,
    proxy_sc: &TonAddress,
    proxy_key: &VerifyingKey,
    params: &RootParams,
    codes: &ContractCodes,
) -> Result<Cell, BocError> {
    let mut identity = CellBuilder::new();
    boc::store_addr_std(&mut identity, owner)?;
    boc::store_addr_std(&mut identity, proxy_sc)?;
    identity.store_slice(proxy_key.as_bytes())?;
    let mut b = CellBuilder::new();
    b.store_u8(2, 0)?;
    boc::store_coins(&mut b, 0)?;
    boc::store_coins(&mut b, params.min_client_stake as NanoTon)?;
    b.store_u64(64, 0)?;
    b.store_u32(32, 0)?;
    b.store_slice(&[0u8; 32])?;
    b.store_reference(&Arc::new(identity.build()?))?;
    b.store_reference(&Arc::new(params.to_cell(codes, 0)?))?;
    Ok(b.build()?)
}

/// Which contract to derive, with the inputs each one needs.
#[derive(Clone, Copy, Debug)]
pub enum ContractSpec<'a> {
    /// Proxy contract of `owner` under `root`.
    Proxy {
        /// Proxy owner wallet.
        owner: &'a TonAddress,
        /// Root contract.
        root: &'a TonAddress,
    },
    /// Worker contract of `owner` at proxy contract `proxy_sc`.
    Worker {
        /// Worker owner wallet.
        owner: &'a TonAddress,
        /// Proxy contract.
        proxy_sc: &'a TonAddress,
    },
    /// Client contract of `owner` at proxy contract `proxy_sc`.
    Client {
        /// Client wallet.
        owner: &'a TonAddress,
        /// Proxy contract.
        proxy_sc: &'a TonAddress,
    },
}

/// Derives a payment contract address from the root params and codes and the proxy key.
pub fn derive_contract_address(
    spec: ContractSpec<'_>,
    proxy_key: &VerifyingKey,
    params: &RootParams,
    codes: &ContractCodes,
) -> Result<TonAddress, BocError> {
    let (code, data) = match spec {
        ContractSpec::Proxy { owner, root } => (
            &codes.proxy,
            proxy_data_cell(owner, proxy_key, root, params, codes)?,
        ),
        ContractSpec::Worker { owner, proxy_sc } => (
            &codes.worker,
            worker_data_cell(owner, proxy_sc, proxy_key, params, codes)?,
        ),
        ContractSpec::Client { owner, proxy_sc } => (
            &codes.client,
            client_data_cell(owner, proxy_sc, proxy_key, params, codes)?,
        ),
    };
    contract_address(code, &Arc::new(data))
}

/// Address text error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid TON address {0:?}")]
pub struct AddressParseError(pub String);

/// A parsed user-friendly address with its flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FriendlyAddress {
    /// The address.
    pub address: TonAddress,
    /// Bounceable flag (false for raw `wc:hex` input).
    pub bounceable: bool,
    /// Testnet-only flag (false for raw input).
    pub testnet: bool,
}

/// Formats the 48-character base64url form (the reference's user-friendly form).
pub fn to_friendly(address: &TonAddress, bounceable: bool, testnet: bool) -> String {
    address.to_base64_url_flags(!bounceable, testnet)
}

/// An address as the reference runners put it on the wire (`rserialize(true)` of an address they
/// derived or normalised): user-friendly base64url, **non-bounceable**, with the testnet flag of
/// the node's `is_testnet`. Reference peers parse what we send and compare the flags too, so every
/// address a node sends in a handshake goes through this (interop.md §3).
pub fn wire_form(address: &TonAddress, testnet: bool) -> String {
    to_friendly(address, false, testnet)
}

/// [`wire_form`] of an address given as text in any form (raw `wc:hex`, base64 or base64url,
/// any flags). Empty or unparsable text is returned unchanged: it is not ours to repair.
pub fn text_to_wire_form(text: &str, testnet: bool) -> String {
    match parse_address(text) {
        Ok(parsed) => wire_form(&parsed.address, testnet),
        Err(_) => text.to_owned(),
    }
}

/// A fresh random basechain address in user-friendly, non-bounceable, mainnet form (`UQ…`):
/// the generated owner identities of local networks and benchmarks.
pub fn random_friendly_address() -> String {
    let mut hash = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut hash);
    to_friendly(&TonAddress::new(0, TonHash::from(hash)), false, false)
}

/// Parses base64url / base64 friendly forms or the raw `wc:hex` form.
pub fn parse_address(text: &str) -> Result<FriendlyAddress, AddressParseError> {
    let err = || AddressParseError(text.chars().take(80).collect());
    if text.contains(':') {
        let address = TonAddress::from_hex_str(text).map_err(|_| err())?;
        return Ok(FriendlyAddress {
            address,
            bounceable: false,
            testnet: false,
        });
    }
    let parsed = if text.contains('+') || text.contains('/') {
        TonAddress::from_base64_std_flags(text)
    } else {
        TonAddress::from_base64_url_flags(text)
    };
    let (address, non_bounceable, testnet) = parsed.map_err(|_| err())?;
    Ok(FriendlyAddress {
        address,
        bounceable: !non_bounceable,
        testnet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root_config::RootConfig;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    fn addr(byte: u8) -> TonAddress {
        TonAddress::new(0, TonHash::from([byte; 32]))
    }

    #[test]
    fn random_friendly_addresses_are_fresh_non_bounceable_basechain() {
        let a = random_friendly_address();
        assert_eq!(a.len(), 48);
        assert!(a.starts_with("UQ"), "{a}");
        let parsed = parse_address(&a).expect("parses back (checksum included)");
        assert!(!parsed.bounceable && !parsed.testnet);
        assert_eq!(parsed.address.workchain, 0);
        assert_ne!(a, random_friendly_address());
    }

    #[test]
    fn state_init_hash_matches_tonlib_derivation() {
        let codes = devnet_placeholder_codes().expect("codes");
        let data = Arc::new(devnet_placeholder_code(ContractKind::Worker).expect("cell"));
        let ours = contract_address(&codes.proxy, &data).expect("derive");
        let tonlib = TonAddress::derive(0, codes.proxy.clone(), data).expect("tonlib");
        assert_eq!(ours, tonlib);
    }

    #[test]
    fn contract_addresses_depend_on_every_input() {
        let params = RootConfig::devnet_default().params;
        let codes = devnet_placeholder_codes().expect("codes");
        let key = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        let other_key = SigningKey::from_bytes(&[2u8; 32]).verifying_key();
        let (owner, proxy) = (addr(1), addr(2));
        let client = |owner, key: &VerifyingKey, params: &RootParams| {
            derive_contract_address(
                ContractSpec::Client {
                    owner,
                    proxy_sc: &proxy,
                },
                key,
                params,
                &codes,
            )
            .expect("derive")
        };
        let base = client(&owner, &key, &params);
        let third = addr(3);
        assert_eq!(base, client(&owner, &key, &params), "deterministic");
        assert_ne!(base, client(&third, &key, &params));
        assert_ne!(base, client(&owner, &other_key, &params));
        let mut bumped = params.clone();
        bumped.params_version += 1;
        assert_ne!(base, client(&owner, &key, &bumped));
        let worker = derive_contract_address(
            ContractSpec::Worker {
                owner: &owner,
                proxy_sc: &proxy,
            },
            &key,
            &params,
            &codes,
        )
        .expect("derive");
        assert_ne!(base, worker);
    }

    #[test]
    fn wire_form_is_non_bounceable_with_the_testnet_flag() {
        let a = addr(0x4f);
        let raw = a.to_hex();
        let bounceable = to_friendly(&a, true, false);
        for input in [raw.as_str(), bounceable.as_str()] {
            let main = text_to_wire_form(input, false);
            let test = text_to_wire_form(input, true);
            assert!(main.starts_with("UQ"), "{main}");
            assert!(test.starts_with("0Q"), "{test}");
            let parsed = parse_address(&main).unwrap();
            assert_eq!(parsed.address, a);
            assert!(!parsed.bounceable && !parsed.testnet);
            let parsed = parse_address(&test).unwrap();
            assert!(!parsed.bounceable && parsed.testnet);
        }
        assert_eq!(text_to_wire_form("", false), "");
        assert_eq!(text_to_wire_form("not an address", true), "not an address");
    }

    #[test]
    fn friendly_round_trip_with_flags() {
        let a = addr(0x5a);
        for (bounceable, testnet) in [(true, false), (false, false), (true, true), (false, true)] {
            let text = to_friendly(&a, bounceable, testnet);
            assert_eq!(text.len(), 48);
            let parsed = parse_address(&text).expect("parse");
            assert_eq!(
                parsed,
                FriendlyAddress {
                    address: a.clone(),
                    bounceable,
                    testnet
                }
            );
        }
        let raw = parse_address(&format!("0:{}", "5a".repeat(32))).expect("raw");
        assert_eq!(raw.address, a);
        assert!(parse_address("not-an-address").is_err());
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,60}") {
            let _ = parse_address(&text);
        }
    }
}
