//! AMD EPYC products with SEV-SNP (Milan, Genoa, Turin), how each names
//! itself in a VCEK and in a report's CPUID fields, and how each packs its
//! TCB version into 64 bits.

use std::fmt;

/// A product line with its own ARK/ASK chain at AMD's KDS. Siena and Bergamo
/// chips use Genoa's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    Milan,
    Genoa,
    Turin,
}

impl Product {
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    /// The KDS name (`Milan`, `Genoa`, `Turin`).
    pub fn name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }

    /// A VCEK's `productName`: `Milan-B0`-style (product, `-`, stepping) or a
    /// bare product name. The reference demands the bare name and so refuses
    /// genuine VCEKs (delta §8 item 12); this splits at `-`. Siena and
    /// Bergamo VCEKs are issued under Genoa's chain and name it.
    pub fn from_vcek_product_name(name: &str) -> Option<Product> {
        let base = name.split('-').next().unwrap_or_default();
        Product::ALL.into_iter().find(|p| p.name() == base)
    }

    /// The product a report's CPUID family/model (report version ≥ 3) names:
    /// family 0x19 models 0x00–0x0F Milan, 0x10–0xAF Genoa (with Bergamo and
    /// Siena), family 0x1A Turin. `None` for family 0 (field absent) or other
    /// CPUs.
    pub fn from_cpuid(family: u8, model: u8) -> Option<Product> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Product::Milan),
            (0x19, 0x10..=0xAF) => Some(Product::Genoa),
            (0x1A, _) => Some(Product::Turin),
            _ => None,
        }
    }

    /// Turin packs its TCB with an FMC field (V1 layout); Milan/Genoa don't.
    pub fn has_fmc(self) -> bool {
        matches!(self, Product::Turin)
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A TCB version: the security patch level (SPL) of each firmware component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcbVersion {
    /// Turin only (V1 layout).
    pub fmc: Option<u8>,
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
}

impl TcbVersion {
    /// Decode the 64-bit little-endian TCB field. Milan/Genoa: bootloader
    /// bits 0–7, TEE 8–15, SNP 48–55, microcode 56–63. Turin: FMC 0–7,
    /// bootloader 8–15, TEE 16–23, SNP 24–31, microcode 56–63.
    pub fn decode(raw: u64, product: Product) -> TcbVersion {
        let b = raw.to_le_bytes();
        if product.has_fmc() {
            TcbVersion {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
            }
        } else {
            TcbVersion {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
            }
        }
    }

    /// `(component name, SPL)` pairs, FMC first when present.
    pub fn components(&self) -> Vec<(&'static str, u8)> {
        let mut out = Vec::with_capacity(5);
        if let Some(fmc) = self.fmc {
            out.push(("FMC", fmc));
        }
        out.extend([
            ("bootloader", self.bootloader),
            ("TEE", self.tee),
            ("SNP", self.snp),
            ("microcode", self.microcode),
        ]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milan_and_genoa_tcb_use_the_v0_layout() {
        // The genuine Milan report's reported TCB: 03 00 00 00 00 00 08 73.
        let raw = u64::from_le_bytes([0x03, 0, 0, 0, 0, 0, 0x08, 0x73]);
        let tcb = TcbVersion::decode(raw, Product::Milan);
        assert_eq!(tcb, TcbVersion::decode(raw, Product::Genoa));
        assert_eq!(
            (tcb.fmc, tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
            (None, 3, 0, 8, 0x73)
        );
    }

    #[test]
    fn turin_tcb_uses_the_v1_layout_with_fmc() {
        let raw = u64::from_le_bytes([1, 2, 3, 4, 0xEE, 0xEE, 0xEE, 5]);
        let tcb = TcbVersion::decode(raw, Product::Turin);
        assert_eq!(
            (tcb.fmc, tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
            (Some(1), 2, 3, 4, 5)
        );
        assert_eq!(tcb.components().first(), Some(&("FMC", 1)));
    }

    #[test]
    fn vcek_product_names_split_at_the_stepping() {
        assert_eq!(
            Product::from_vcek_product_name("Milan-B0"),
            Some(Product::Milan)
        );
        assert_eq!(
            Product::from_vcek_product_name("Genoa"),
            Some(Product::Genoa)
        );
        assert_eq!(
            Product::from_vcek_product_name("Turin-C1"),
            Some(Product::Turin)
        );
        assert_eq!(Product::from_vcek_product_name("milan"), None);
        assert_eq!(Product::from_vcek_product_name("Naples-B2"), None);
        assert_eq!(Product::from_vcek_product_name(""), None);
    }

    #[test]
    fn cpuid_family_and_model_name_the_product() {
        assert_eq!(Product::from_cpuid(0x19, 0x01), Some(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0x11), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x19, 0xA0), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1A, 0x02), Some(Product::Turin));
        assert_eq!(Product::from_cpuid(0, 0), None);
        assert_eq!(Product::from_cpuid(0x17, 0x31), None);
    }
}
