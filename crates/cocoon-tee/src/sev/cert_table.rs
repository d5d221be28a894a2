//! The certificate table an SEV-SNP host hands its guest with an extended
//! report request (GHCB specification, "SNP Extended Guest Request"; Linux
//! puts it in configfs-tsm's `auxblob`): entries of a 16-byte GUID, a
//! 32-bit little-endian offset and length into the table, terminated by an
//! all-zero entry; the certificates (DER) follow.
//!
//! GUIDs name what a certificate is ([`CertKind`]). They are matched in both
//! byte orders a table may use (RFC 4122 order, as Linux tooling writes them,
//! and the mixed-endian EFI order), since hosts differ. Parsing is bounded:
//! every offset and length is checked, the entry count is capped.

use super::error::SevError;

/// Most entries read from one table.
pub const MAX_CERT_TABLE_ENTRIES: usize = 64;
const ENTRY_LEN: usize = 24;

/// What a table entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// The chip's Versioned Chip Endorsement Key.
    Vcek,
    /// A Versioned Loaded Endorsement Key (signs instead of the VCEK; refused by our verifier).
    Vlek,
    /// AMD SEV Key.
    Ask,
    /// AMD Root Key.
    Ark,
    /// Any other GUID (kept as the RFC-order string).
    Other,
}

const KNOWN: [(CertKind, &str); 4] = [
    (CertKind::Vcek, "63da758d-e664-4564-adc5-f4b93be8accd"),
    (CertKind::Vlek, "a8074bc2-a25a-483e-aae6-39c045a0b8a1"),
    (CertKind::Ask, "4ab7b379-bbac-4fe4-a02f-05aef327c782"),
    (CertKind::Ark, "c0b406a4-a803-4952-9743-3fb6014cd0ae"),
];

/// A GUID's 16 bytes in RFC 4122 order from its text form.
fn guid_rfc_bytes(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    if let Ok(bytes) = hex::decode(hex) {
        if bytes.len() == 16 {
            out.copy_from_slice(&bytes);
        }
    }
    out
}

/// RFC order → EFI mixed-endian order (first three fields little-endian).
fn to_mixed_endian(rfc: [u8; 16]) -> [u8; 16] {
    let mut out = rfc;
    out[..4].reverse();
    out[4..6].reverse();
    out[6..8].reverse();
    out
}

impl CertKind {
    /// The kind a GUID (16 bytes, either order) names.
    pub fn of_guid(guid: &[u8; 16]) -> CertKind {
        KNOWN
            .iter()
            .find(|(_, text)| {
                let rfc = guid_rfc_bytes(text);
                *guid == rfc || *guid == to_mixed_endian(rfc)
            })
            .map_or(CertKind::Other, |(kind, _)| *kind)
    }

    /// The GUID in RFC 4122 byte order, as a table written by Linux tools holds it.
    pub fn guid(self) -> Option<[u8; 16]> {
        KNOWN
            .iter()
            .find(|(kind, _)| *kind == self)
            .map(|(_, text)| guid_rfc_bytes(text))
    }
}

/// One certificate of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertTableEntry {
    pub guid: [u8; 16],
    pub kind: CertKind,
    /// The certificate as stored (DER).
    pub data: Vec<u8>,
}

/// A parsed certificate table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertTable {
    pub entries: Vec<CertTableEntry>,
}

fn malformed(reason: impl Into<String>) -> SevError {
    SevError::CollateralMalformed {
        reason: format!("SEV certificate table: {}", reason.into()),
    }
}

fn le_u32(bytes: &[u8]) -> usize {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word) as usize
}

impl CertTable {
    /// Parse `bytes` (an `auxblob`).
    pub fn parse(bytes: &[u8]) -> Result<CertTable, SevError> {
        let mut entries = Vec::new();
        let mut at = 0;
        loop {
            let header = bytes
                .get(at..at + ENTRY_LEN)
                .ok_or_else(|| malformed("no terminating all-zero entry"))?;
            if header.iter().all(|b| *b == 0) {
                break;
            }
            if entries.len() == MAX_CERT_TABLE_ENTRIES {
                return Err(malformed(format!(
                    "more than {MAX_CERT_TABLE_ENTRIES} entries"
                )));
            }
            let mut guid = [0u8; 16];
            guid.copy_from_slice(&header[..16]);
            let offset = le_u32(&header[16..20]);
            let length = le_u32(&header[20..24]);
            let data = offset
                .checked_add(length)
                .and_then(|end| bytes.get(offset..end))
                .ok_or_else(|| {
                    malformed(format!(
                        "entry {} at offset {offset} with length {length} lies outside the {} bytes",
                        entries.len(),
                        bytes.len()
                    ))
                })?;
            entries.push(CertTableEntry {
                guid,
                kind: CertKind::of_guid(&guid),
                data: data.to_vec(),
            });
            at += ENTRY_LEN;
        }
        Ok(CertTable { entries })
    }

    /// The first certificate of `kind`.
    pub fn get(&self, kind: CertKind) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.data.as_slice())
    }

    /// Serialise `certs` as a table (GUIDs in RFC order): what a host writes.
    /// Used by tests and simulations.
    pub fn encode(certs: &[(CertKind, &[u8])]) -> Vec<u8> {
        let header_len = (certs.len() + 1) * ENTRY_LEN;
        let mut table = vec![0u8; header_len];
        let mut body = Vec::new();
        for (i, (kind, der)) in certs.iter().enumerate() {
            let entry = &mut table[i * ENTRY_LEN..(i + 1) * ENTRY_LEN];
            entry[..16].copy_from_slice(&kind.guid().unwrap_or([0xff; 16]));
            let offset = (header_len + body.len()) as u32;
            entry[16..20].copy_from_slice(&offset.to_le_bytes());
            entry[20..24].copy_from_slice(&(der.len() as u32).to_le_bytes());
            body.extend_from_slice(der);
        }
        table.extend_from_slice(&body);
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_round_trips_and_is_found_by_kind() {
        let table = CertTable::encode(&[(CertKind::Ask, b"ask"), (CertKind::Vcek, b"vcek!")]);
        let parsed = CertTable::parse(&table).expect("table");
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.get(CertKind::Vcek), Some(&b"vcek!"[..]));
        assert_eq!(parsed.get(CertKind::Ask), Some(&b"ask"[..]));
        assert_eq!(parsed.get(CertKind::Ark), None);
    }

    #[test]
    fn both_guid_byte_orders_name_the_vcek() {
        let rfc = CertKind::Vcek.guid().expect("guid");
        assert_eq!(rfc[..4], [0x63, 0xda, 0x75, 0x8d]);
        assert_eq!(CertKind::of_guid(&rfc), CertKind::Vcek);
        let mixed = to_mixed_endian(rfc);
        assert_eq!(mixed[..4], [0x8d, 0x75, 0xda, 0x63]);
        assert_eq!(CertKind::of_guid(&mixed), CertKind::Vcek);
        assert_eq!(CertKind::of_guid(&[7; 16]), CertKind::Other);
    }

    #[test]
    fn bad_tables_are_errors() {
        assert!(CertTable::parse(&[]).is_err());
        assert!(CertTable::parse(&[1; 24]).is_err());
        let mut table = CertTable::encode(&[(CertKind::Vcek, b"vcek")]);
        table.truncate(table.len() - 1);
        let err = CertTable::parse(&table).unwrap_err().to_string();
        assert!(err.contains("outside"), "{err}");
        assert_eq!(CertTable::parse(&[0; 24]).expect("empty").entries, vec![]);
    }
}
