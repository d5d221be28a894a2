//! Field codecs shared by the message, wallet and state modules: coins (`VarUInteger 16`),
//! `addr_std`, `Maybe ^Cell`, the root's `net_addr` (`0 | len:u7 | len bytes`), exact-end
//! checks, and the IPv4 `ip:port` endpoint text the reference accepts.
//!
//! Every reader returns [`CellError`] instead of panicking: the cells come from the chain
//! through a liteserver and are untrusted.

use std::net::Ipv4Addr;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::boc::{self, BocError};
use tonlib_core::cell::{ArcCell, Cell, CellBuilder, CellParser, TonCellError};
use tonlib_core::TonAddress;

/// Error from building or reading cells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    /// Undecodable bytes, or a tonlib-core cell error (usually "not enough data").
    #[error(transparent)]
    Boc(#[from] BocError),
    /// The cell does not have the expected layout.
    #[error("cell layout: {0}")]
    Layout(String),
    /// The input is bigger or deeper than the reader accepts.
    #[error("{what} exceeds the limit of {limit}")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl From<TonCellError> for CellError {
    fn from(e: TonCellError) -> Self {
        CellError::Boc(BocError::from(e))
    }
}

/// Shorthand for a layout error.
pub(crate) fn layout(what: impl Into<String>) -> CellError {
    CellError::Layout(what.into())
}

/// Reads coins (`VarUInteger 16`: 4-bit byte length, big-endian value).
pub fn load_coins(p: &mut CellParser<'_>) -> Result<NanoTon, CellError> {
    let len = p.load_u8(4)?;
    let mut value: NanoTon = 0;
    for _ in 0..len {
        value = (value << 8) | NanoTon::from(p.load_u8(8)?);
    }
    Ok(value)
}

/// Reads coins the way the reference's `fetch_coins` does: at most 8 value bytes (a u64).
pub fn load_coins_u64(p: &mut CellParser<'_>) -> Result<u64, CellError> {
    let len = p.load_u8(4)?;
    if len > 8 {
        return Err(layout(format!("coins of {len} bytes do not fit 64 bits")));
    }
    let mut value = 0u64;
    for _ in 0..len {
        value = (value << 8) | u64::from(p.load_u8(8)?);
    }
    Ok(value)
}

/// Writes coins as `VarUInteger 16`.
pub fn store_coins(b: &mut CellBuilder, amount: NanoTon) -> Result<(), CellError> {
    Ok(boc::store_coins(b, amount)?)
}

/// Writes `addr_std$10 anycast:0 workchain:int8 address:bits256`.
pub fn store_addr(b: &mut CellBuilder, address: &TonAddress) -> Result<(), CellError> {
    Ok(boc::store_addr_std(b, address)?)
}

/// Reads an `addr_std` without anycast.
pub fn load_addr(p: &mut CellParser<'_>) -> Result<TonAddress, CellError> {
    Ok(boc::load_addr_std(p)?)
}

/// Reads 256 bits.
pub fn load_bits256(p: &mut CellParser<'_>) -> Result<[u8; 32], CellError> {
    let mut out = [0u8; 32];
    p.load_slice(&mut out)?;
    Ok(out)
}

/// Reads `Maybe ^Cell`.
pub fn load_maybe_ref(p: &mut CellParser<'_>) -> Result<Option<ArcCell>, CellError> {
    if p.load_bit()? {
        Ok(Some(p.next_reference()?))
    } else {
        Ok(None)
    }
}

/// Fails unless the parser has consumed every bit and every reference of its cell.
pub fn expect_end(p: &mut CellParser<'_>, what: &str) -> Result<(), CellError> {
    if p.remaining_bits() != 0 || p.remaining_refs() != 0 {
        return Err(layout(format!("extra data after {what}")));
    }
    Ok(())
}

/// Builds a cell, mapping the tonlib error.
pub(crate) fn finish(mut b: CellBuilder) -> Result<Cell, CellError> {
    Ok(b.build()?)
}

/// Reads a `net_addr` (`0:1 | len:u7 | len bytes`) and returns its bytes. A first bit of 1
/// (an address type the reference does not know) is an error.
pub fn load_net_addr(p: &mut CellParser<'_>) -> Result<Vec<u8>, CellError> {
    if p.load_bit()? {
        return Err(layout("net_addr of an unknown type (first bit 1)"));
    }
    let len = usize::from(p.load_u8(7)?);
    Ok(p.load_bytes(len)?)
}

/// Writes a `net_addr` (`0:1 | len:u7 | bytes`); at most 127 bytes.
pub fn store_net_addr(b: &mut CellBuilder, text: &str) -> Result<(), CellError> {
    let len = u8::try_from(text.len())
        .ok()
        .filter(|len| *len < 128)
        .ok_or_else(|| layout("net_addr longer than 127 bytes"))?;
    b.store_bit(false)?;
    b.store_u8(7, len)?;
    b.store_slice(text.as_bytes())?;
    Ok(())
}

/// Parses one `ip:port` endpoint as the reference does (IPv4 only, the whole text may be
/// wrapped in `[...]`, a decimal port of at most 65535) and returns it normalised as
/// `a.b.c.d:port`; `None` when it does not parse.
pub fn parse_ipv4_endpoint(text: &str) -> Option<String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let (host, port) = inner.split_once(':')?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let ip: Ipv4Addr = host.parse().ok()?;
    Some(format!("{ip}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coins_round_trip_and_u64_limit() {
        for amount in [0u128, 1, 255, 256, 700_000_000, u64::MAX as u128, 1 << 100] {
            let mut b = CellBuilder::new();
            store_coins(&mut b, amount).expect("store");
            let cell = finish(b).expect("cell");
            let mut p = cell.parser();
            assert_eq!(load_coins(&mut p).expect("load"), amount);
            let mut p = cell.parser();
            let small = load_coins_u64(&mut p);
            if amount <= u128::from(u64::MAX) {
                assert_eq!(small.expect("fits"), amount as u64);
            } else {
                assert!(small.is_err());
            }
        }
    }

    #[test]
    fn net_addr_round_trip_and_unknown_type() {
        let mut b = CellBuilder::new();
        store_net_addr(&mut b, "1.2.3.4:5").expect("store");
        let cell = finish(b).expect("cell");
        assert_eq!(cell.bit_len(), 8 + 9 * 8);
        let mut p = cell.parser();
        assert_eq!(load_net_addr(&mut p).expect("load"), b"1.2.3.4:5");
        let mut b = CellBuilder::new();
        b.store_u8(8, 0x81).expect("bits");
        b.store_u8(8, b'x').expect("bits");
        let cell = finish(b).expect("cell");
        assert!(load_net_addr(&mut cell.parser()).is_err());
        assert!(store_net_addr(&mut CellBuilder::new(), &"x".repeat(128)).is_err());
    }

    #[test]
    fn endpoints_follow_the_reference_rules() {
        assert_eq!(
            parse_ipv4_endpoint("10.0.0.1:8080").as_deref(),
            Some("10.0.0.1:8080")
        );
        assert_eq!(
            parse_ipv4_endpoint("[10.0.0.1:80]").as_deref(),
            Some("10.0.0.1:80")
        );
        for bad in [
            "",
            "10.0.0.1",
            "10.0.0.1:",
            "10.0.0.1:65536",
            "10.0.0.1:+80",
            "host:80",
            "::1:80",
            "[10.0.0.1]:80",
        ] {
            assert_eq!(parse_ipv4_endpoint(bad), None, "{bad:?}");
        }
    }
}
