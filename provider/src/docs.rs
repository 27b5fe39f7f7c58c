//! Reference documentation generated from the schemas, so docs/ never drifts from the code.
//! Each page keeps its hand-written part above `GENERATED_MARKER`; below it is generated.

use crate::plugin::schema::{Attribute, Block, Nesting};
use crate::plugin::value::Type;

pub const GENERATED_MARKER: &str =
    "<!-- Everything below is generated from the provider's schema by `UPDATE_DOCS=1 cargo test -p terraform-provider-pve docs`. -->";

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::Number => "number".into(),
        Type::String => "string".into(),
        Type::Dynamic => "any".into(),
        Type::List(t) => format!("list({})", type_name(t)),
        Type::Set(t) => format!("set({})", type_name(t)),
        Type::Map(t) => format!("map({})", type_name(t)),
        Type::Object(_) => "object".into(),
    }
}

fn kind(a: &Attribute) -> &'static str {
    match (a.required, a.optional, a.computed, a.write_only) {
        (true, ..) => "required",
        (_, true, _, true) => "optional, write-only",
        (_, true, true, _) => "optional",
        (_, true, false, _) => "optional",
        _ => "read-only",
    }
}

fn attributes_table(block: &Block, out: &mut String) {
    out.push_str("| Attribute | Type | | Description |\n|---|---|---|---|\n");
    for a in &block.attributes {
        let mut flags = kind(a).to_string();
        if a.sensitive {
            flags.push_str(", sensitive");
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            a.name,
            type_name(&a.ty),
            flags,
            a.description.replace('|', "\\|").replace('\n', " ")
        ));
    }
}

/// The generated part of a page.
pub fn render(block: &Block) -> String {
    let mut out = String::new();
    out.push_str("\n## Attributes\n\n");
    attributes_table(block, &mut out);
    for nested in &block.blocks {
        let count = match nested.nesting {
            Nesting::Single => "at most one".to_string(),
            Nesting::List { min, max } if max > 0 => format!("{min} to {max}"),
            Nesting::List { .. } => "any number".to_string(),
        };
        out.push_str(&format!("\n### Block `{}` ({count})\n\n{}\n\n", nested.name, nested.block.description));
        attributes_table(&nested.block, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::service::ProviderDefinition;
    use crate::provider::PveProvider;

    fn check(page: &str, block: &Block) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let head = text.split(GENERATED_MARKER).next().unwrap_or("").trim_end().to_string();
        let expected = format!("{head}\n\n{GENERATED_MARKER}\n{}", render(block));
        if std::env::var("UPDATE_DOCS").is_ok() {
            std::fs::write(&path, &expected).expect("write docs");
        } else {
            assert!(text == expected, "{page} is out of date: run UPDATE_DOCS=1 cargo test -p terraform-provider-pve docs");
        }
    }

    #[test]
    fn docs_match_the_schemas() {
        check("docs/index.md", &PveProvider.schema());
        for resource in PveProvider.resources() {
            check(&format!("docs/resources/{}.md", resource.type_name().trim_start_matches("pve_")), &resource.schema());
        }
        for source in PveProvider.data_sources() {
            check(&format!("docs/data-sources/{}.md", source.type_name().trim_start_matches("pve_")), &source.schema());
        }
    }
}
