//! Per-type code fragments for the generator: Rust types, minimum wire
//! sizes, and the write/length/read expressions of each field type.

use crate::gen::Gen;
use crate::names::module_path;
use crate::parse::Ty;

impl Gen<'_> {
    pub(crate) fn rust_type(&self, ty: &Ty) -> String {
        match ty {
            Ty::Int => "i32".into(),
            Ty::Long => "i64".into(),
            Ty::Double => "f64".into(),
            Ty::String => "::std::string::String".into(),
            Ty::Bytes => "::std::vec::Vec<u8>".into(),
            Ty::Int128 => "[u8; 16]".into(),
            Ty::Int256 => "[u8; 32]".into(),
            Ty::Bool => "bool".into(),
            Ty::Flags => "u32".into(),
            Ty::Vector(inner) => format!("::std::vec::Vec<{}>", self.rust_type(inner)),
            Ty::Bare(name) => module_path("types", name),
            Ty::Boxed(name) => module_path("enums", name),
        }
    }

    /// Smallest number of bytes a value of `ty` takes on the wire.
    pub(crate) fn min_size(&self, ty: &Ty) -> usize {
        match ty {
            Ty::Int
            | Ty::Flags
            | Ty::Bool
            | Ty::String
            | Ty::Bytes
            | Ty::Vector(_)
            | Ty::Boxed(_) => 4,
            Ty::Long | Ty::Double => 8,
            Ty::Int128 => 16,
            Ty::Int256 => 32,
            Ty::Bare(name) => self
                .schema
                .constructor(name)
                .map(|d| {
                    d.fields
                        .iter()
                        .filter(|f| f.condition.is_none())
                        .map(|f| self.min_size(&f.ty))
                        .sum()
                })
                .unwrap_or(0),
        }
    }

    /// Statement(s) writing `expr` to `out`; `expr` is a place of type `T`
    /// (`is_ref == false`, e.g. `self.id`) or an expression of type `&T`.
    pub(crate) fn write_code(&self, ty: &Ty, expr: &str, is_ref: bool, depth: usize) -> String {
        let value = if is_ref {
            format!("*{expr}")
        } else {
            expr.to_string()
        };
        let reference = if is_ref {
            expr.to_string()
        } else {
            format!("&{expr}")
        };
        match ty {
            Ty::Int => format!("crate::tl::write_i32(out, {value});"),
            Ty::Long => format!("crate::tl::write_i64(out, {value});"),
            Ty::Double => format!("crate::tl::write_f64(out, {value});"),
            Ty::Flags => format!("crate::tl::write_u32(out, {value});"),
            Ty::Bool => format!("crate::tl::write_bool(out, {value});"),
            Ty::String => format!("crate::tl::write_string(out, {reference});"),
            Ty::Bytes => format!("crate::tl::write_bytes(out, {reference});"),
            Ty::Int128 | Ty::Int256 => format!("out.extend_from_slice({reference});"),
            Ty::Vector(inner) => {
                let item = format!("item{depth}");
                format!(
                    "crate::tl::write_vector_len(out, {expr}.len()); for {item} in {expr}.iter() {{ {} }}",
                    self.write_code(inner, &item, true, depth + 1)
                )
            }
            Ty::Bare(_) => format!("crate::tl::TlWrite::write_bare({reference}, out);"),
            Ty::Boxed(_) => format!("crate::tl::Boxed::write_boxed({reference}, out);"),
        }
    }

    /// Expression (usize) for the encoded length of `expr` (place or reference,
    /// as in [`Gen::write_code`]).
    pub(crate) fn len_code(&self, ty: &Ty, expr: &str, is_ref: bool, depth: usize) -> String {
        let reference = if is_ref {
            expr.to_string()
        } else {
            format!("&{expr}")
        };
        if let Some(size) = fixed_size(ty) {
            return size.to_string();
        }
        match ty {
            Ty::String | Ty::Bytes => format!("crate::tl::string_len({expr}.len())"),
            Ty::Vector(inner) => match (fixed_size(inner), inner.as_ref()) {
                (Some(size), _) => format!("4 + {expr}.len() * {size}"),
                (None, Ty::Bare(_)) => {
                    format!("4 + {expr}.iter().map(crate::tl::TlWrite::bare_len).sum::<usize>()")
                }
                (None, Ty::Boxed(_)) => {
                    format!("4 + {expr}.iter().map(crate::tl::Boxed::boxed_len).sum::<usize>()")
                }
                (None, _) => {
                    let item = format!("item{depth}");
                    format!(
                        "4 + {expr}.iter().map(|{item}| {}).sum::<usize>()",
                        self.len_code(inner, &item, true, depth + 1)
                    )
                }
            },
            Ty::Bare(_) => format!("crate::tl::TlWrite::bare_len({reference})"),
            Ty::Boxed(_) => format!("crate::tl::Boxed::boxed_len({reference})"),
            _ => "0".into(),
        }
    }

    /// A function (path or closure) reading a `T` from a `&mut Reader`.
    pub(crate) fn read_fn(&self, ty: &Ty) -> String {
        match ty {
            Ty::Int => "crate::tl::Reader::read_i32".into(),
            Ty::Long => "crate::tl::Reader::read_i64".into(),
            Ty::Double => "crate::tl::Reader::read_f64".into(),
            Ty::Flags => "crate::tl::Reader::read_u32".into(),
            Ty::Bool => "crate::tl::Reader::read_bool".into(),
            Ty::String => "crate::tl::Reader::read_string".into(),
            Ty::Bytes => "crate::tl::Reader::read_bytes".into(),
            Ty::Int128 => "crate::tl::Reader::read_int128".into(),
            Ty::Int256 => "crate::tl::Reader::read_int256".into(),
            Ty::Vector(inner) => format!(
                "|r: &mut crate::tl::Reader<'_>| r.read_vector({}, {})",
                self.min_size(inner),
                self.read_fn(inner)
            ),
            Ty::Bare(_) => format!("<{} as crate::tl::TlRead>::read_bare", self.rust_type(ty)),
            Ty::Boxed(_) => format!("<{} as crate::tl::Boxed>::read_boxed", self.rust_type(ty)),
        }
    }
}

/// Wire size of a value of `ty` if it is the same for every value.
pub(crate) fn fixed_size(ty: &Ty) -> Option<usize> {
    match ty {
        Ty::Int | Ty::Flags | Ty::Bool => Some(4),
        Ty::Long | Ty::Double => Some(8),
        Ty::Int128 => Some(16),
        Ty::Int256 => Some(32),
        _ => None,
    }
}
