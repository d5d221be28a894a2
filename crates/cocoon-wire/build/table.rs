//! Generation of the constructor table used by the dynamic (JSON) layer.

use std::fmt::Write as _;

use crate::gen::{Gen, BUILTINS};
use crate::parse::{crc_id, Ty};

impl Gen<'_> {
    pub(crate) fn field_type_expr(&self, ty: &Ty) -> String {
        match ty {
            Ty::Int => "FieldType::Int".into(),
            Ty::Long => "FieldType::Long".into(),
            Ty::Double => "FieldType::Double".into(),
            Ty::String => "FieldType::String".into(),
            Ty::Bytes => "FieldType::Bytes".into(),
            Ty::Int128 => "FieldType::Int128".into(),
            Ty::Int256 => "FieldType::Int256".into(),
            Ty::Bool => "FieldType::Bool".into(),
            Ty::Flags => "FieldType::Flags".into(),
            Ty::Vector(inner) => format!("FieldType::Vector(&{})", self.field_type_expr(inner)),
            Ty::Bare(name) => format!("FieldType::Bare(\"{name}\")"),
            Ty::Boxed(name) => format!("FieldType::Boxed(\"{name}\")"),
        }
    }

    pub(crate) fn generate_table(&self) -> String {
        let mut out = String::from("/// Every constructor and function of the schema, in schema order.\npub static CONSTRUCTORS: &[ConstructorInfo] = &[\n");
        for d in &self.schema.decls {
            let _ = writeln!(
                out,
                "ConstructorInfo {{ name: \"{}\", id: {:#010x}, explicit_id: {}, is_function: {}, result_type: \"{}\", declaration: \"{}\", fields: &[",
                d.name,
                d.id,
                d.explicit_id.is_some(),
                d.is_function,
                d.result,
                d.canonical
            );
            for f in &d.fields {
                let condition = match &f.condition {
                    Some(c) => format!(
                        "Some(FieldCondition {{ flags_field: \"{}\", bit: {} }})",
                        c.flags_field, c.bit
                    ),
                    None => "None".into(),
                };
                let _ = writeln!(
                    out,
                    "    FieldInfo {{ name: \"{}\", ty: {}, condition: {condition} }},",
                    f.name,
                    self.field_type_expr(&f.ty),
                );
            }
            let _ = writeln!(out, "] }},");
        }
        out.push_str("];\n");
        let _ = writeln!(out, "/// Minimum wire size of a bare value of each constructor.\nfn bare_min_size(index: usize) -> usize {{ match index {{");
        for (i, d) in self.schema.decls.iter().enumerate() {
            let _ = writeln!(out, "{i} => {},", self.min_size(&Ty::Bare(d.name.clone())));
        }
        out.push_str("_ => 0 } }\n");
        out.push_str("/// Position in [`CONSTRUCTORS`] of the constructor with this id.\nfn index_by_id(id: u32) -> Option<usize> { match id {\n");
        for (i, d) in self.schema.decls.iter().enumerate() {
            let _ = writeln!(out, "{:#010x} => Some({i}),", d.id);
        }
        out.push_str("_ => None } }\n");
        out.push_str("/// Position in [`CONSTRUCTORS`] of the constructor with this name.\nfn index_by_name(name: &str) -> Option<usize> { match name {\n");
        for (i, d) in self.schema.decls.iter().enumerate() {
            let _ = writeln!(out, "\"{}\" => Some({i}),", d.name);
        }
        out.push_str("_ => None } }\n");
        out.push_str("/// Built-in constructors that the schema file does not declare.\npub static BUILTINS: &[(&str, u32)] = &[\n");
        for (name, text) in BUILTINS {
            let tl_name = text.split(' ').next().unwrap_or(name);
            let _ = writeln!(out, "(\"{tl_name}\", {:#010x}),", crc_id(text));
        }
        out.push_str("];\n");
        out
    }
}
