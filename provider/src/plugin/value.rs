//! cty values and types as Terraform sends them: msgpack (with unknowns as extension type 0) or
//! JSON, and type constraints as JSON (`"string"`, `["list","string"]`, `["object",{…}]`).

use std::collections::BTreeMap;

use rmpv::Value as Mp;
use serde_json::{Value as Json, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
    String,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Dynamic,
}

impl Type {
    pub fn list(of: Type) -> Self {
        Self::List(Box::new(of))
    }

    pub fn set(of: Type) -> Self {
        Self::Set(Box::new(of))
    }

    pub fn map(of: Type) -> Self {
        Self::Map(Box::new(of))
    }

    pub fn object<'a>(attrs: impl IntoIterator<Item = (&'a str, Type)>) -> Self {
        Self::Object(attrs.into_iter().map(|(k, t)| (k.to_string(), t)).collect())
    }

    /// The JSON type constraint the protocol carries in `bytes type` fields.
    pub fn to_json(&self) -> Json {
        match self {
            Self::Bool => json!("bool"),
            Self::Number => json!("number"),
            Self::String => json!("string"),
            Self::Dynamic => json!("dynamic"),
            Self::List(t) => json!(["list", t.to_json()]),
            Self::Set(t) => json!(["set", t.to_json()]),
            Self::Map(t) => json!(["map", t.to_json()]),
            Self::Object(attrs) => {
                json!(["object", attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect::<serde_json::Map<_, _>>()])
            }
        }
    }

    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }
}

/// A value of any type; objects and maps are both `Map`, lists, sets and tuples all `List`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    /// Known only after apply.
    Unknown,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("msgpack: {0}")]
    Msgpack(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported msgpack value: {0}")]
    Unsupported(String),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Self {
        Self::String(s.into())
    }

    pub fn object<'a>(attrs: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        Self::Map(attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown)
    }

    /// Known and not null: what a conflict check may count as "set". At validate time a value
    /// from a module variable or another resource is still unknown and may turn out null.
    pub fn is_set(&self) -> bool {
        !self.is_null() && !self.is_unknown()
    }

    /// Known all the way down.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Self::Unknown => false,
            Self::List(items) => items.iter().all(Value::is_wholly_known),
            Self::Map(items) => items.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// An attribute of an object (Null when absent).
    pub fn get(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Self::Map(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_f64().filter(|n| n.fract() == 0.0 && n.abs() < 9.0e15).map(|n| n as i64)
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Self::List(items) => Some(items),
            _ => None,
        }
    }

    /// Decodes msgpack (as in `DynamicValue.msgpack`).
    pub fn from_msgpack(bytes: &[u8]) -> Result<Self, ValueError> {
        let mp = rmpv::decode::read_value(&mut &bytes[..]).map_err(|e| ValueError::Msgpack(e.to_string()))?;
        Self::from_mp(mp)
    }

    fn from_mp(mp: Mp) -> Result<Self, ValueError> {
        Ok(match mp {
            Mp::Nil => Self::Null,
            Mp::Boolean(b) => Self::Bool(b),
            Mp::Integer(i) => Self::Number(i.as_f64().unwrap_or(0.0)),
            Mp::F32(f) => Self::Number(f as f64),
            Mp::F64(f) => Self::Number(f),
            // cty encodes numbers too large for float64 as strings; so do we read them back.
            Mp::String(s) => Self::String(s.into_str().ok_or_else(|| ValueError::Unsupported("non-UTF-8 string".into()))?),
            Mp::Binary(b) => Self::String(String::from_utf8(b).map_err(|_| ValueError::Unsupported("binary".into()))?),
            Mp::Array(items) => Self::List(items.into_iter().map(Self::from_mp).collect::<Result<_, _>>()?),
            Mp::Map(entries) => Self::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = k.as_str().map(str::to_string).ok_or_else(|| ValueError::Unsupported("non-string map key".into()))?;
                        Ok((key, Self::from_mp(v)?))
                    })
                    .collect::<Result<_, ValueError>>()?,
            ),
            // Extension 0 is an unknown value; 12 is an unknown with refinements.
            Mp::Ext(0 | 12, _) => Self::Unknown,
            Mp::Ext(kind, _) => return Err(ValueError::Unsupported(format!("msgpack extension {kind}"))),
        })
    }

    /// Encodes as msgpack following `ty`: objects get every attribute (absent ones null).
    pub fn to_msgpack(&self, ty: &Type) -> Vec<u8> {
        let mut out = Vec::new();
        write_mp(&mut out, self, ty);
        out
    }

    /// Decodes JSON (as in `DynamicValue.json` and `RawState.json`). No unknowns in JSON.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, ValueError> {
        Ok(Self::from_json(&serde_json::from_slice(bytes)?))
    }

    pub fn from_json(json: &Json) -> Self {
        match json {
            Json::Null => Self::Null,
            Json::Bool(b) => Self::Bool(*b),
            Json::Number(n) => Self::Number(n.as_f64().unwrap_or(0.0)),
            Json::String(s) => Self::String(s.clone()),
            Json::Array(items) => Self::List(items.iter().map(Self::from_json).collect()),
            Json::Object(map) => Self::Map(map.iter().map(|(k, v)| (k.clone(), Self::from_json(v))).collect()),
        }
    }

    /// JSON for state upgrades; unknowns have no JSON form and become null.
    pub fn to_json(&self) -> Json {
        match self {
            Self::Null | Self::Unknown => Json::Null,
            Self::Bool(b) => json!(b),
            Self::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(*n as i64),
            Self::Number(n) => json!(n),
            Self::String(s) => json!(s),
            Self::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Self::Map(items) => Json::Object(items.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Number(n as f64)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Self::Number(n as f64)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Self::Number(n)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// cty's unknown value: fixext1 of extension type 0 with a zero byte.
const UNKNOWN: [u8; 3] = [0xd4, 0, 0];

fn write_mp(out: &mut Vec<u8>, value: &Value, ty: &Type) {
    use rmp::encode;
    // Writes into a Vec cannot fail.
    match (value, ty) {
        (Value::Unknown, _) => out.extend_from_slice(&UNKNOWN),
        (Value::Null, _) => encode::write_nil(out).unwrap_or_default(),
        (_, Type::Dynamic) => {
            // Dynamic values travel as [type, value].
            let inferred = infer_type(value);
            let _ = encode::write_array_len(out, 2);
            let type_json = inferred.to_json().to_string();
            let _ = encode::write_bin(out, type_json.as_bytes());
            write_mp(out, value, &inferred);
        }
        (Value::Bool(b), _) => encode::write_bool(out, *b).unwrap_or_default(),
        (Value::Number(n), _) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                let _ = encode::write_sint(out, *n as i64);
            } else {
                let _ = encode::write_f64(out, *n);
            }
        }
        (Value::String(s), Type::Number) => match s.parse::<f64>() {
            Ok(n) => write_mp(out, &Value::Number(n), ty),
            Err(_) => encode::write_str(out, s).unwrap_or_default(),
        },
        (Value::String(s), _) => encode::write_str(out, s).unwrap_or_default(),
        (Value::List(items), Type::List(inner) | Type::Set(inner)) => {
            let _ = encode::write_array_len(out, items.len() as u32);
            for item in items {
                write_mp(out, item, inner);
            }
        }
        (Value::List(items), _) => {
            let _ = encode::write_array_len(out, items.len() as u32);
            for item in items {
                write_mp(out, item, &Type::Dynamic);
            }
        }
        (Value::Map(entries), Type::Object(attrs)) => {
            let _ = encode::write_map_len(out, attrs.len() as u32);
            for (name, attr_ty) in attrs {
                let _ = encode::write_str(out, name);
                write_mp(out, entries.get(name).unwrap_or(&Value::Null), attr_ty);
            }
        }
        (Value::Map(entries), Type::Map(inner)) => {
            let _ = encode::write_map_len(out, entries.len() as u32);
            for (name, item) in entries {
                let _ = encode::write_str(out, name);
                write_mp(out, item, inner);
            }
        }
        (Value::Map(entries), _) => {
            let _ = encode::write_map_len(out, entries.len() as u32);
            for (name, item) in entries {
                let _ = encode::write_str(out, name);
                write_mp(out, item, &Type::Dynamic);
            }
        }
    }
}

fn infer_type(value: &Value) -> Type {
    match value {
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::List(items) => Type::list(items.first().map(infer_type).unwrap_or(Type::String)),
        Value::Map(entries) => Type::Object(entries.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect()),
        Value::Null | Value::Unknown => Type::Dynamic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn object_type() -> Type {
        Type::object([("name", Type::String), ("cores", Type::Number), ("tags", Type::set(Type::String)), ("on", Type::Bool)])
    }

    #[test]
    fn object_round_trip_fills_absent_attributes() {
        let value = Value::object([("name", "web".into()), ("cores", 4i64.into()), ("tags", Value::List(vec!["a".into()]))]);
        let decoded = Value::from_msgpack(&value.to_msgpack(&object_type())).unwrap();
        assert_eq!(decoded.get("name"), &Value::from("web"));
        assert_eq!(decoded.get("cores").as_i64(), Some(4));
        assert_eq!(decoded.get("on"), &Value::Null);
        assert!(matches!(&decoded, Value::Map(m) if m.contains_key("on")), "absent attributes are encoded as null");
    }

    #[test]
    fn unknowns_use_extension_zero() {
        let bytes = Value::Unknown.to_msgpack(&Type::String);
        assert_eq!(bytes, UNKNOWN);
        assert_eq!(Value::from_msgpack(&bytes).unwrap(), Value::Unknown);
        // A refined unknown (extension 12) is still unknown.
        assert_eq!(Value::from_msgpack(&[0xc7, 0x01, 0x0c, 0x00]).unwrap(), Value::Unknown);
        assert!(!Value::List(vec![Value::Unknown]).is_wholly_known());
    }

    #[test]
    fn type_json_matches_cty() {
        assert_eq!(Type::list(Type::String).to_json().to_string(), r#"["list","string"]"#);
        assert_eq!(Type::object([("a", Type::Number)]).to_json().to_string(), r#"["object",{"a":"number"}]"#);
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Value::from_msgpack(&bytes);
        }

        #[test]
        fn strings_and_numbers_round_trip(s in ".{0,40}", n in -1_000_000i64..1_000_000) {
            let ty = Type::object([("s", Type::String), ("n", Type::Number)]);
            let value = Value::object([("s", Value::from(s.clone())), ("n", n.into())]);
            prop_assert_eq!(Value::from_msgpack(&value.to_msgpack(&ty)).unwrap(), value);
        }
    }
}
