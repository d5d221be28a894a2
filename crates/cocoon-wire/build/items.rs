//! Generation of one struct (constructor or function) or one enum (boxed
//! type) with its codec impls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::exprs::fixed_size;
use crate::gen::Gen;
use crate::names::{field_ident, module_path, pascal, split_name};
use crate::parse::{Decl, Ty};

impl Gen<'_> {
    /// The struct and impls of one constructor or function.
    pub(crate) fn struct_item(&self, d: &Decl) -> String {
        let (_, local) = split_name(&d.name);
        let name = pascal(local);
        let mut s = String::new();
        push_doc(&mut s, &d.doc);
        let _ = writeln!(s, "///\n/// TL: `{}`", d.canonical);
        let _ = writeln!(
            s,
            "/// (id `{:#010x}`{}).",
            d.id,
            if d.explicit_id.is_some() {
                ", pinned"
            } else {
                ""
            }
        );
        let derive_default = self.defaultable.get(&d.name).copied().unwrap_or(false);
        let _ = writeln!(
            s,
            "#[derive(Debug, Clone, PartialEq{})]",
            if derive_default { ", Default" } else { "" }
        );
        let _ = writeln!(s, "pub struct {name} {{");
        for f in &d.fields {
            let ty = self.rust_type(&f.ty);
            let ty = if f.condition.is_some() {
                format!("::core::option::Option<{ty}>")
            } else {
                ty
            };
            let note = match (&f.condition, &f.ty) {
                (Some(c), _) => {
                    format!(" Present iff bit {} of `{}` is set.", c.bit, c.flags_field)
                }
                (None, Ty::Flags) => {
                    " The encoder sets or clears the bits of optional fields from their presence."
                        .to_string()
                }
                _ => String::new(),
            };
            let _ = writeln!(s, "    /// `{}:{}`.{note}", f.name, f.type_text);
            let _ = writeln!(s, "    pub {}: {ty},", field_ident(&f.name));
        }
        let _ = writeln!(s, "}}");

        // Inherent constants and flags helpers.
        let _ = writeln!(s, "impl {name} {{");
        let _ = writeln!(s, "    /// Constructor id on the wire.");
        let _ = writeln!(s, "    pub const CONSTRUCTOR_ID: u32 = {:#010x};", d.id);
        let _ = writeln!(s, "    /// Full TL name.");
        let _ = writeln!(s, "    pub const NAME: &'static str = \"{}\";", d.name);
        for (flags_field, mask, groups) in flags_groups(d) {
            if mask == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "    /// The `{flags_field}` word as written: the stored bits, with each optional field's bit set iff one of its fields is present."
            );
            let _ = writeln!(s, "    pub fn wire_{flags_field}(&self) -> u32 {{");
            let _ = writeln!(
                s,
                "        let mut value = self.{} & !{mask:#x}u32;",
                field_ident(&flags_field)
            );
            for (bit, names) in groups {
                let test = names
                    .iter()
                    .map(|n| format!("self.{}.is_some()", field_ident(n)))
                    .collect::<Vec<_>>()
                    .join(" || ");
                let _ = writeln!(s, "        if {test} {{ value |= 1u32 << {bit}; }}");
            }
            let _ = writeln!(s, "        value\n    }}");
        }
        let _ = writeln!(s, "}}");

        let _ = writeln!(
            s,
            "impl crate::tl::Identifiable for {name} {{ const CONSTRUCTOR_ID: u32 = {:#010x}; const NAME: &'static str = \"{}\"; }}",
            d.id, d.name
        );

        // Writer.
        let mut write = String::new();
        let mut len = String::from("let mut n = 0usize;\n");
        let governed: BTreeSet<String> = flags_groups(d)
            .into_iter()
            .filter(|(_, mask, _)| *mask != 0)
            .map(|(f, _, _)| f)
            .collect();
        for f in &d.fields {
            let ident = field_ident(&f.name);
            match (&f.condition, &f.ty) {
                (None, Ty::Flags) if governed.contains(&f.name) => {
                    let _ = writeln!(write, "let wire_{} = self.wire_{}();", f.name, f.name);
                    let _ = writeln!(write, "crate::tl::write_u32(out, wire_{});", f.name);
                    let _ = writeln!(len, "let wire_{} = self.wire_{}();", f.name, f.name);
                    let _ = writeln!(len, "n += 4;");
                }
                (None, _) => {
                    let expr = format!("self.{ident}");
                    let _ = writeln!(write, "{}", self.write_code(&f.ty, &expr, false, 0));
                    let _ = writeln!(len, "n += {};", self.len_code(&f.ty, &expr, false, 0));
                }
                (Some(c), _) => {
                    let ty = self.rust_type(&f.ty);
                    let test = format!("wire_{} & (1u32 << {}) != 0", c.flags_field, c.bit);
                    let _ = writeln!(
                        write,
                        "if {test} {{ match &self.{ident} {{ Some(v) => {{ {} }} None => {{ let v: &{ty} = &::core::default::Default::default(); {} }} }} }}",
                        self.write_code(&f.ty, "v", true, 0),
                        self.write_code(&f.ty, "v", true, 0),
                    );
                    match fixed_size(&f.ty) {
                        Some(size) => {
                            let _ = writeln!(len, "if {test} {{ n += {size}; }}");
                        }
                        None => {
                            let _ = writeln!(
                                len,
                                "if {test} {{ n += match &self.{ident} {{ Some(v) => {}, None => {{ let v: &{ty} = &::core::default::Default::default(); {} }} }}; }}",
                                self.len_code(&f.ty, "v", true, 0),
                                self.len_code(&f.ty, "v", true, 0),
                            );
                        }
                    }
                }
            }
        }
        if d.fields.is_empty() {
            write.push_str("let _ = (self, out);\n");
            len = "let _ = self;\n0".into();
        } else {
            len.push('n');
        }
        let _ = writeln!(
            s,
            "impl crate::tl::TlWrite for {name} {{\n#[allow(clippy::identity_op)]\nfn write_bare(&self, out: &mut ::std::vec::Vec<u8>) {{\n{write}}}\n#[allow(clippy::identity_op)]\nfn bare_len(&self) -> usize {{\n{len}\n}}\n}}"
        );

        // Reader.
        let mut read = String::from("r.enter()?;\n");
        for f in &d.fields {
            let value = format!(
                "r.field(Self::NAME, \"{}\", {})?",
                f.name,
                self.read_fn(&f.ty)
            );
            match &f.condition {
                None => {
                    let _ = writeln!(read, "let f_{} = {value};", f.name);
                }
                Some(c) => {
                    let _ = writeln!(
                        read,
                        "let f_{} = if f_{} & (1u32 << {}) != 0 {{ Some({value}) }} else {{ None }};",
                        f.name, c.flags_field, c.bit
                    );
                }
            }
        }
        read.push_str("r.leave();\nOk(Self {");
        for f in &d.fields {
            let _ = write!(read, " {}: f_{},", field_ident(&f.name), f.name);
        }
        read.push_str(" })");
        let _ = writeln!(
            s,
            "impl crate::tl::TlRead for {name} {{\nfn read_bare(r: &mut crate::tl::Reader<'_>) -> ::core::result::Result<Self, crate::tl::DecodeError> {{\n{read}\n}}\n}}"
        );

        // Boxed form: own id, then the fields.
        let _ = writeln!(
            s,
            "impl crate::tl::Boxed for {name} {{\nfn write_boxed(&self, out: &mut ::std::vec::Vec<u8>) {{ crate::tl::write_u32(out, Self::CONSTRUCTOR_ID); crate::tl::TlWrite::write_bare(self, out); }}\nfn boxed_len(&self) -> usize {{ 4 + crate::tl::TlWrite::bare_len(self) }}\nfn read_boxed(r: &mut crate::tl::Reader<'_>) -> ::core::result::Result<Self, crate::tl::DecodeError> {{ r.expect_constructor(Self::CONSTRUCTOR_ID, Self::NAME)?; <Self as crate::tl::TlRead>::read_bare(r) }}\n}}"
        );
        if d.is_function {
            let _ = writeln!(
                s,
                "impl crate::tl::RemoteCall for {name} {{ type Return = {}; }}",
                module_path("enums", &d.result)
            );
        }
        s
    }

    /// One enum over the constructors of a boxed type.
    pub(crate) fn enum_item(
        &self,
        ty: &str,
        variants: &[(String, String, &Decl)],
        doc: &str,
    ) -> String {
        let (_, local) = split_name(ty);
        let name = if doc.is_empty() {
            pascal(local)
        } else {
            ty.to_string()
        };
        let mut s = String::new();
        if doc.is_empty() {
            let _ = writeln!(s, "/// Boxed TL type `{ty}`: one variant per constructor.");
        } else {
            let _ = writeln!(s, "/// {doc}");
        }
        let _ = writeln!(s, "#[derive(Debug, Clone, PartialEq)]\npub enum {name} {{");
        for (variant, path, d) in variants {
            let _ = writeln!(s, "    /// `{}`", d.name);
            let _ = writeln!(s, "    {variant}({path}),");
        }
        let _ = writeln!(s, "}}");

        let arms = |f: &dyn Fn(&str, &str, &Decl) -> String| -> String {
            variants
                .iter()
                .map(|(v, p, d)| format!("Self::{v}(v) => {},\n", f(v, p, d)))
                .collect::<String>()
        };
        let id_arms: String = variants
            .iter()
            .map(|(v, _, d)| format!("Self::{v}(_) => {:#010x},\n", d.id))
            .collect();
        let name_arms: String = variants
            .iter()
            .map(|(v, _, d)| format!("Self::{v}(_) => \"{}\",\n", d.name))
            .collect();
        let _ = writeln!(
            s,
            "impl {name} {{\n/// Id of the constructor held.\npub fn constructor_id(&self) -> u32 {{ match self {{\n{id_arms}}} }}\n/// TL name of the constructor held.\npub fn constructor_name(&self) -> &'static str {{ match self {{\n{name_arms}}} }}\n}}"
        );
        let write_arms = arms(&|_, _, _| "crate::tl::Boxed::write_boxed(v, out)".into());
        let len_arms = arms(&|_, _, _| "crate::tl::Boxed::boxed_len(v)".into());
        let read_arms: String = variants
            .iter()
            .map(|(v, p, d)| {
                format!(
                    "{:#010x} => Ok(Self::{v}(<{p} as crate::tl::TlRead>::read_bare(r)?)),\n",
                    d.id
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "impl crate::tl::Boxed for {name} {{\nfn write_boxed(&self, out: &mut ::std::vec::Vec<u8>) {{ match self {{\n{write_arms}}} }}\nfn boxed_len(&self) -> usize {{ match self {{\n{len_arms}}} }}\nfn read_boxed(r: &mut crate::tl::Reader<'_>) -> ::core::result::Result<Self, crate::tl::DecodeError> {{\nlet id = r.read_constructor_id()?;\nmatch id {{\n{read_arms}other => Err(r.unknown_constructor(other, \"{ty}\")),\n}}\n}}\n}}"
        );
        for (variant, path, _) in variants {
            let _ = writeln!(
                s,
                "impl ::core::convert::From<{path}> for {name} {{ fn from(v: {path}) -> Self {{ Self::{variant}(v) }} }}"
            );
        }
        s
    }
}

/// For each `#` field of `d`: (field name, mask of governed bits, bit → field names).
pub(crate) fn flags_groups(d: &Decl) -> Vec<(String, u32, BTreeMap<u8, Vec<String>>)> {
    d.fields
        .iter()
        .filter(|f| f.ty == Ty::Flags && f.condition.is_none())
        .map(|flags| {
            let mut groups: BTreeMap<u8, Vec<String>> = BTreeMap::new();
            for f in &d.fields {
                if let Some(c) = &f.condition {
                    if c.flags_field == flags.name {
                        groups.entry(c.bit).or_default().push(f.name.clone());
                    }
                }
            }
            let mask = groups.keys().fold(0u32, |m, b| m | (1u32 << b));
            (flags.name.clone(), mask, groups)
        })
        .collect()
}

pub(crate) fn push_doc(s: &mut String, doc: &[String]) {
    for line in doc {
        let _ = writeln!(s, "/// {line}");
    }
}
