//! Codec for PVE property strings: `key=value,key=value`, where one item may leave out its key
//! (the format's default key, e.g. the volume in `local-lvm:32,iothread=1`).
//!
//! PVE keeps the order it was given, rejects duplicate keys and empty values. Values that contain a
//! comma or a double quote are written double-quoted with backslash escapes, and read back the same
//! way, so any value survives a round trip.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyStringError {
    #[error("duplicate key in comma-separated list property: {0}")]
    DuplicateKey(String),
    #[error("missing key in comma-separated list property")]
    MissingKey,
    #[error("value without key, but schema does not define a default key")]
    NoDefaultKey,
    #[error("unterminated quoted value in property string")]
    UnterminatedQuote,
}

/// Ordered key/value pairs of one property string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertyString {
    entries: Vec<(String, String)>,
}

impl PropertyString {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `text`; a keyless item is stored under `default_key`.
    pub fn parse(text: &str, default_key: Option<&str>) -> Result<Self, PropertyStringError> {
        let mut parsed = Self::new();
        for item in split_items(text)? {
            if item.trim().is_empty() {
                continue;
            }
            let (key, value) = match item.find('=') {
                // A quoted keyless value may itself contain '='.
                Some(_) if item.starts_with('"') => (default_key.ok_or(PropertyStringError::NoDefaultKey)?.to_string(), unquote(&item)?),
                Some(at) => {
                    let (key, value) = (&item[..at], &item[at + 1..]);
                    if key.is_empty() || value.is_empty() {
                        return Err(PropertyStringError::MissingKey);
                    }
                    (key.to_string(), unquote(value)?)
                }
                None => (default_key.ok_or(PropertyStringError::NoDefaultKey)?.to_string(), unquote(&item)?),
            };
            if parsed.get(&key).is_some() {
                return Err(PropertyStringError::DuplicateKey(key));
            }
            parsed.entries.push((key, value));
        }
        Ok(parsed)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Sets `key`, keeping its position if present, appending otherwise.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (key, value) = (key.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
        self
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the string with `default_key`'s value first and without its key, as PVE prints it.
    pub fn to_string_with_default(&self, default_key: &str) -> String {
        let mut parts = Vec::with_capacity(self.entries.len());
        if let Some(value) = self.get(default_key) {
            // Unquoted, an '=' would make the value read back as a key.
            parts.push(if value.contains('=') { force_quote(value) } else { quote(value) });
        }
        parts.extend(self.entries.iter().filter(|(k, _)| k != default_key).map(|(k, v)| format!("{k}={}", quote(v))));
        parts.join(",")
    }
}

impl fmt::Display for PropertyString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.entries.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        f.write_str(&parts.join(","))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for PropertyString {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut out = Self::new();
        for (k, v) in iter {
            out.set(k, v);
        }
        out
    }
}

/// Splits on commas outside double quotes.
fn split_items(text: &str) -> Result<Vec<String>, PropertyStringError> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for ch in text.chars() {
        match ch {
            _ if escaped => {
                escaped = false;
                current.push(ch);
            }
            '\\' if in_quotes => {
                escaped = true;
                current.push(ch);
            }
            '"' => {
                in_quotes = !in_quotes;
                current.push(ch);
            }
            ',' if !in_quotes => items.push(std::mem::take(&mut current)),
            _ => current.push(ch),
        }
    }
    if in_quotes || escaped {
        return Err(PropertyStringError::UnterminatedQuote);
    }
    items.push(current);
    Ok(items)
}

fn unquote(value: &str) -> Result<String, PropertyStringError> {
    let Some(inner) = value.strip_prefix('"') else {
        return Ok(value.to_string());
    };
    let inner = inner.strip_suffix('"').ok_or(PropertyStringError::UnterminatedQuote)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            out.push(chars.next().ok_or(PropertyStringError::UnterminatedQuote)?);
        } else {
            out.push(ch);
        }
    }
    Ok(out)
}

fn needs_quotes(value: &str) -> bool {
    value.is_empty() || value.contains([',', '"', '\\']) || value.starts_with('"') || value.trim() != value
}

fn quote(value: &str) -> String {
    if needs_quotes(value) { force_quote(value) } else { value.to_string() }
}

fn force_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_network_device_with_alias_key() {
        let net = PropertyString::parse("virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10", Some("model")).unwrap();
        assert_eq!(net.get("virtio"), Some("BC:24:11:00:00:01"));
        assert_eq!(net.get("bridge"), Some("vmbr0"));
        assert_eq!(net.get("tag"), Some("10"));
    }

    #[test]
    fn keyless_item_goes_to_default_key() {
        let disk = PropertyString::parse("local-lvm:32,iothread=1,discard=on", Some("file")).unwrap();
        assert_eq!(disk.get("file"), Some("local-lvm:32"));
        assert_eq!(disk.to_string_with_default("file"), "local-lvm:32,iothread=1,discard=on");
        assert_eq!(disk.to_string(), "file=local-lvm:32,iothread=1,discard=on");
    }

    #[test]
    fn rejects_duplicates_and_empty_values() {
        assert_eq!(PropertyString::parse("a=1,a=2", None), Err(PropertyStringError::DuplicateKey("a".into())));
        assert_eq!(PropertyString::parse("a=", None), Err(PropertyStringError::MissingKey));
        assert_eq!(PropertyString::parse("lonely", None), Err(PropertyStringError::NoDefaultKey));
        assert_eq!(PropertyString::parse("x,y", Some("file")), Err(PropertyStringError::DuplicateKey("file".into())));
    }

    #[test]
    fn set_keeps_position_and_remove_works() {
        let mut p = PropertyString::parse("a=1,b=2,c=3", None).unwrap();
        p.set("b", "20").set("d", "4");
        assert_eq!(p.to_string(), "a=1,b=20,c=3,d=4");
        assert_eq!(p.remove("a").as_deref(), Some("1"));
        assert_eq!(p.to_string(), "b=20,c=3,d=4");
    }

    #[test]
    fn quoted_values_round_trip() {
        let p: PropertyString = [("user", "a,b"), ("vendor", "say \"hi\"")].into_iter().collect();
        let text = p.to_string();
        assert_eq!(text, r#"user="a,b",vendor="say \"hi\"""#);
        assert_eq!(PropertyString::parse(&text, None).unwrap(), p);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn parse_never_panics(text in ".{0,64}", default in proptest::option::of("[a-z]{1,5}")) {
            let _ = PropertyString::parse(&text, default.as_deref());
        }

        #[test]
        fn print_then_parse_is_identity(
            entries in proptest::collection::btree_map("[a-z][a-z0-9_-]{0,8}", ".{1,16}", 0..6),
        ) {
            let original: PropertyString = entries.into_iter().collect();
            let reparsed = PropertyString::parse(&original.to_string(), None).unwrap();
            prop_assert_eq!(&reparsed, &original);
            if let Some(first) = original.keys().next().map(str::to_string) {
                let with_default = original.to_string_with_default(&first);
                let reparsed = PropertyString::parse(&with_default, Some(&first)).unwrap();
                prop_assert_eq!(reparsed.get(&first), original.get(&first));
                prop_assert_eq!(reparsed.iter().count(), original.iter().count());
            }
        }
    }
}
