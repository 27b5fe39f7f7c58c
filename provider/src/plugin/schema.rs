//! A small declarative way to write schemas: attributes with descriptions, validators that run at
//! plan time and report on the offending attribute, sensitivity and write-only flags.

use std::sync::Arc;

use regex::Regex;

use super::diag::{Diagnostic, Diagnostics, Path, Step};
use super::value::{Type, Value};
use crate::proto::tfplugin6 as pb;

pub type CheckFn = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// A check on a known, non-null value. The message completes "Invalid <attribute>: …".
#[derive(Clone)]
pub enum Validator {
    /// Inclusive integer bounds.
    Range(i64, i64),
    /// The whole string must match.
    Regex(Regex, &'static str),
    OneOf(&'static [&'static str]),
    Custom(CheckFn),
}

const STORAGE_ID: &str = r"[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]";

impl Validator {
    pub fn regex(pattern: &str, explanation: &'static str) -> Self {
        Self::Regex(Regex::new(&format!("^(?:{pattern})$")).expect("validator regex is valid"), explanation)
    }

    /// A PVE storage ID (`local-lvm`, `nfs.backup`), as pve-storage's `pve-storage-id` format.
    pub fn storage_id() -> Self {
        Self::regex(STORAGE_ID, "is not a storage ID")
    }

    /// A volume ID on a storage (`STORAGE:PATH`), e.g. `local:vztmpl/NAME`.
    pub fn volume_id(example: &'static str) -> Self {
        Self::regex(&format!("{STORAGE_ID}:.+"), example)
    }

    pub fn custom(check: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(check))
    }

    pub(crate) fn check(&self, value: &Value) -> Result<(), String> {
        match self {
            Self::Range(min, max) => match value.as_f64() {
                Some(n) if n.fract() != 0.0 => Err(format!("must be a whole number, got {n}")),
                Some(n) if n < *min as f64 || n > *max as f64 => Err(format!("must be between {min} and {max}, got {n}")),
                _ => Ok(()),
            },
            Self::Regex(re, explanation) => match value.as_str() {
                Some(s) if !re.is_match(s) => Err(format!("\"{s}\" {explanation}")),
                _ => Ok(()),
            },
            Self::OneOf(options) => match value.as_str() {
                Some(s) if !options.contains(&s) => Err(format!("must be one of {}, got \"{s}\"", options.join(", "))),
                _ => Ok(()),
            },
            Self::Custom(check) => check(value),
        }
    }
}

pub type NormalizeFn = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// How an attribute behaves when Terraform plans a change.
#[derive(Clone)]
pub enum PlanRule {
    /// A change to this attribute destroys and recreates the resource.
    RequiresReplace,
    /// Keep the prior value instead of "known after apply" when the config leaves it unset.
    UseStateForUnknown,
    /// Values equal after normalising are the same (tag order and case, say): keep the prior one.
    Normalize(NormalizeFn),
    /// The value planned when the configuration leaves the attribute unset.
    Default(Value),
}

#[derive(Clone)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: Type,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub write_only: bool,
    pub validators: Vec<Validator>,
    pub plan_rules: Vec<PlanRule>,
}

impl Attribute {
    fn new(name: &'static str, ty: Type, description: &str) -> Self {
        Self {
            name,
            ty,
            description: description.to_string(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            validators: Vec::new(),
            plan_rules: Vec::new(),
        }
    }

    pub fn required(name: &'static str, ty: Type, description: &str) -> Self {
        Self { required: true, ..Self::new(name, ty, description) }
    }

    pub fn optional(name: &'static str, ty: Type, description: &str) -> Self {
        Self { optional: true, ..Self::new(name, ty, description) }
    }

    pub fn computed(name: &'static str, ty: Type, description: &str) -> Self {
        Self { computed: true, ..Self::new(name, ty, description) }
    }

    /// Optional, and filled in by the provider when not set.
    pub fn optional_computed(name: &'static str, ty: Type, description: &str) -> Self {
        Self { optional: true, computed: true, ..Self::new(name, ty, description) }
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    pub fn validate(mut self, validator: Validator) -> Self {
        self.validators.push(validator);
        self
    }

    pub fn requires_replace(mut self) -> Self {
        self.plan_rules.push(PlanRule::RequiresReplace);
        self
    }

    pub fn use_state_for_unknown(mut self) -> Self {
        self.plan_rules.push(PlanRule::UseStateForUnknown);
        self
    }

    pub fn normalize(mut self, f: impl Fn(&Value) -> Value + Send + Sync + 'static) -> Self {
        self.plan_rules.push(PlanRule::Normalize(Arc::new(f)));
        self
    }

    /// A default for an optional+computed attribute; the description should name it too.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.plan_rules.push(PlanRule::Default(value.into()));
        self
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        pb::schema::Attribute {
            name: self.name.to_string(),
            r#type: self.ty.to_json_bytes(),
            nested_type: None,
            description: self.description.clone(),
            required: self.required,
            optional: self.optional,
            computed: self.computed,
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
            write_only: self.write_only,
            deprecation_message: String::new(),
        }
    }
}

/// How often a nested block may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// At most one: the value is an object or null.
    Single,
    /// An ordered list of objects.
    List { min: i64, max: i64 },
}

#[derive(Clone)]
pub struct NestedBlock {
    pub name: &'static str,
    pub nesting: Nesting,
    pub block: Block,
    /// Any change inside the block replaces the resource.
    pub requires_replace: bool,
}

#[derive(Clone, Default)]
pub struct Block {
    pub description: String,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

impl Block {
    pub fn new(description: &str, attributes: Vec<Attribute>) -> Self {
        Self { description: description.to_string(), attributes, blocks: Vec::new() }
    }

    pub fn with_block(mut self, name: &'static str, nesting: Nesting, block: Block) -> Self {
        self.blocks.push(NestedBlock { name, nesting, block, requires_replace: false });
        self
    }

    /// The object type of values of this block.
    pub fn value_type(&self) -> Type {
        let mut attrs: std::collections::BTreeMap<String, Type> =
            self.attributes.iter().map(|a| (a.name.to_string(), a.ty.clone())).collect();
        for nested in &self.blocks {
            let ty = match nested.nesting {
                Nesting::Single => nested.block.value_type(),
                Nesting::List { .. } => Type::list(nested.block.value_type()),
            };
            attrs.insert(nested.name.to_string(), ty);
        }
        Type::Object(attrs)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    fn block_proto(&self, version: i64) -> pb::schema::Block {
        pb::schema::Block {
            version,
            attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
            block_types: self
                .blocks
                .iter()
                .map(|nested| {
                    let (nesting, min, max) = match nested.nesting {
                        Nesting::Single => (pb::schema::nested_block::NestingMode::Single, 0, 0),
                        Nesting::List { min, max } => (pb::schema::nested_block::NestingMode::List, min, max),
                    };
                    pb::schema::NestedBlock {
                        type_name: nested.name.to_string(),
                        block: Some(nested.block.block_proto(version)),
                        nesting: nesting as i32,
                        min_items: min,
                        max_items: max,
                    }
                })
                .collect(),
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
            deprecation_message: String::new(),
        }
    }

    pub fn to_proto(&self, version: i64) -> pb::Schema {
        pb::Schema { version, block: Some(self.block_proto(version)) }
    }

    /// Runs every attribute's validators on a configuration, reporting at each attribute's path.
    /// Unknown values are skipped: they are checked again once known.
    pub fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        self.validate_at(config, &Vec::new(), &mut diags);
        diags
    }

    fn validate_at(&self, config: &Value, prefix: &Path, diags: &mut Diagnostics) {
        for attribute in &self.attributes {
            let value = config.get(attribute.name);
            let mut path = prefix.clone();
            path.push(Step::Attr(attribute.name.to_string()));
            if value.is_unknown() || value.is_null() {
                continue;
            }
            for validator in &attribute.validators {
                if let Err(message) = validator.check(value) {
                    diags.push(Diagnostic::error(format!("Invalid {}", attribute.name), message).at(path.clone()));
                }
            }
        }
        for nested in &self.blocks {
            let mut path = prefix.clone();
            path.push(Step::Attr(nested.name.to_string()));
            match (nested.nesting, config.get(nested.name)) {
                (Nesting::Single, value) if !value.is_null() && !value.is_unknown() => nested.block.validate_at(value, &path, diags),
                (Nesting::List { .. }, Value::List(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let mut item_path = path.clone();
                        item_path.push(Step::Index(i as i64));
                        nested.block.validate_at(item, &item_path, diags);
                    }
                }
                _ => {}
            }
        }
    }
}
