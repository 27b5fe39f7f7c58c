//! Request validation against the official PVE 9.1.3 API schema (a copy of
//! `shared/pve-api/pve-9.1.3-api-full.json`, all 649 methods, bundled in `schema/`), with PVE's own error messages.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};

use pve_api::PropertyString;
use regex::Regex;
use serde_json::Value;

const SCHEMA_JSON: &str = include_str!("../schema/pve-api.json");

/// Per-parameter errors, keyed by parameter name, as PVE returns them in `errors`.
pub type ParamErrors = BTreeMap<String, String>;

pub struct Schema {
    methods: Vec<MethodSpec>,
    named_formats: BTreeMap<String, String>,
    /// Index ranges of `name[n]` keys, from the schema's `reading.indexed_keys`.
    index_limits: HashMap<String, u32>,
    regex_cache: Mutex<HashMap<String, Option<Regex>>>,
    /// Parameters whose values are secrets, by name: read from the schema (see `secret_parameters`).
    secret_params: std::collections::HashSet<String>,
}

pub struct MethodSpec {
    pub method: String,
    pub template: String,
    segments: Vec<String>,
    pub parameters: Value,
    pub returns: Value,
    pub permissions: Value,
    /// Whether API tokens may call it (`allowtoken`, 1 unless the method says otherwise).
    pub allowtoken: bool,
}

/// The matched endpoint: its `METHOD /template` key and the path's parameters.
pub struct RouteMatch<'a> {
    pub spec: &'a MethodSpec,
    pub path_params: BTreeMap<String, String>,
}

impl MethodSpec {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

pub static SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::parse(SCHEMA_JSON).expect("bundled schema is valid"));

impl Schema {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let root: Value = serde_json::from_str(text)?;
        let methods: Vec<MethodSpec> = root["methods"]
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("schema has no methods"))?
            .iter()
            .filter_map(|(key, spec)| {
                let (method, template) = key.split_once(' ')?;
                Some(MethodSpec {
                    method: method.to_string(),
                    template: template.to_string(),
                    segments: template.trim_start_matches('/').split('/').map(str::to_string).collect(),
                    parameters: spec["parameters"].clone(),
                    returns: spec["returns"].clone(),
                    permissions: spec["permissions"].clone(),
                    allowtoken: spec["allowtoken"].as_i64() != Some(0),
                })
            })
            .collect();
        let named_formats = root["named_formats"]
            .as_object()
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let mut index_limits = HashMap::new();
        // "qemu net/ipconfig 0-31, scsi 0-30, ...; lxc net 0-31, mp/unused/dev 0-255"
        if let Some(text) = root["reading"]["indexed_keys"].as_str() {
            let re = Regex::new(r"([a-z/]+) 0-(\d+)").expect("static regex");
            for caps in re.captures_iter(text) {
                let max: u32 = caps[2].parse().unwrap_or(0);
                for name in caps[1].split('/') {
                    let entry = index_limits.entry(name.to_string()).or_insert(max);
                    *entry = (*entry).max(max);
                }
            }
        }
        let secret_params = secret_parameters(&methods);
        Ok(Self { methods, named_formats, index_limits, regex_cache: Mutex::new(HashMap::new()), secret_params })
    }

    /// Whether a parameter's value must never be logged: the schema marks it, or its name does
    /// (which also covers methods the bundled schema lacks, answered 501).
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret_params.contains(name) || names_a_secret(name)
    }

    pub fn methods(&self) -> impl Iterator<Item = &MethodSpec> {
        self.methods.iter()
    }

    /// Finds the endpoint for a method and a path below `/api2/json`.
    pub fn route(&self, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Literal segments beat placeholders: `/nodes/{node}/qemu` before `/nodes/{node}/{x}`.
        let mut best: Option<(usize, RouteMatch<'_>)> = None;
        for spec in self.methods.iter().filter(|m| m.method == method && m.segments.len() == parts.len()) {
            let mut params = BTreeMap::new();
            let mut literals = 0;
            let matched = spec.segments.iter().zip(&parts).all(|(seg, part)| {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    params.insert(name.to_string(), pve_api::percent_decode(part));
                    !part.is_empty()
                } else {
                    literals += 1;
                    seg == part
                }
            });
            if matched && best.as_ref().is_none_or(|(n, _)| literals > *n) {
                best = Some((literals, RouteMatch { spec, path_params: params }));
            }
        }
        best.map(|(_, m)| m)
    }

    /// The parameter schema for `name`, resolving indexed keys like `net3` to `net[n]`.
    fn param_spec<'a>(&self, properties: &'a serde_json::Map<String, Value>, name: &str) -> Result<Option<&'a Value>, String> {
        if let Some(spec) = properties.get(name) {
            return Ok(Some(spec));
        }
        let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || digits == name.len() {
            return Ok(None);
        }
        let (prefix, index) = name.split_at(name.len() - digits);
        let Some(spec) = properties.get(&format!("{prefix}[n]")) else {
            return Ok(None);
        };
        let index: u32 = index.parse().map_err(|_| "invalid index".to_string())?;
        let limit = self.index_limits.get(prefix).copied().unwrap_or(255);
        if index > limit || (index.to_string().len() != digits) {
            return Ok(None);
        }
        Ok(Some(spec))
    }

    /// Validates all parameters (path ones included) and returns PVE's per-parameter errors.
    pub fn validate(&self, spec: &MethodSpec, params: &BTreeMap<String, String>) -> Result<(), ParamErrors> {
        let mut errors = ParamErrors::new();
        let empty = serde_json::Map::new();
        let properties = spec.parameters["properties"].as_object().unwrap_or(&empty);
        let additional = spec.parameters["additionalProperties"].as_i64().unwrap_or(0) != 0;
        for (name, value) in params {
            match self.param_spec(properties, name) {
                Ok(Some(param)) => {
                    if let Err(message) = self.check_value(name, param, value) {
                        errors.insert(name.clone(), message);
                    }
                }
                Ok(None) if additional => {}
                Ok(None) | Err(_) => {
                    errors.insert(
                        name.clone(),
                        "property is not defined in schema and the schema does not allow additional properties".into(),
                    );
                }
            }
        }
        for (name, param) in properties {
            if name.ends_with("[n]") || param["optional"].as_i64().unwrap_or(0) != 0 {
                continue;
            }
            if !params.contains_key(name) {
                errors.insert(name.clone(), "property is missing and it is not optional".into());
            }
        }
        for (name, param) in properties {
            if let (true, Some(required)) = (params.contains_key(name), param["requires"].as_str())
                && !params.contains_key(required)
            {
                errors.insert(required.to_string(), format!("parameter '{required}' is required by '{name}'"));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    fn check_value(&self, name: &str, param: &Value, value: &str) -> Result<(), String> {
        let kind = param["type"].as_str().unwrap_or("string");
        match kind {
            "boolean" if value != "0" && value != "1" => {
                return Err(format!("type check ('boolean') failed - got '{value}'"));
            }
            "integer" => {
                static INT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[+-]?\d+$").expect("static regex"));
                if !INT.is_match(value) {
                    return Err(format!("type check ('integer') failed - got '{value}'"));
                }
            }
            "number" => {
                static NUM: LazyLock<Regex> =
                    LazyLock::new(|| Regex::new(r"^[+-]?(\d+|\d+\.\d+|\.\d+)([eE][+-]?\d+)?$").expect("static regex"));
                if !NUM.is_match(value) {
                    return Err(format!("type check ('number') failed - got '{value}'"));
                }
            }
            _ => {}
        }
        match &param["format"] {
            Value::String(format) => self.check_format(format, value).map_err(|e| format!("invalid format - {e}"))?,
            Value::Object(sub) => self.check_property_string(name, sub, value)?,
            _ => {}
        }
        if let Some(pattern) = param["pattern"].as_str()
            && !self.matches_pattern(pattern, value)
        {
            return Err("value does not match the regex pattern".into());
        }
        if let Some(max) = as_f64(&param["maxLength"])
            && value.chars().count() as f64 > max
        {
            return Err(format!("value may only be {} characters long", fmt_num(max)));
        }
        if let Some(min) = as_f64(&param["minLength"])
            && (value.chars().count() as f64) < min
        {
            return Err(format!("value must be at least {} characters long", fmt_num(min)));
        }
        if let Ok(number) = value.parse::<f64>() {
            if let Some(max) = as_f64(&param["maximum"])
                && number > max
            {
                return Err(format!("value must have a maximum value of {}", fmt_num(max)));
            }
            if let Some(min) = as_f64(&param["minimum"])
                && number < min
            {
                return Err(format!("value must have a minimum value of {}", fmt_num(min)));
            }
        }
        if let Some(values) = param["enum"].as_array() {
            let allowed: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
            if !allowed.contains(&value) {
                return Err(format!("value '{value}' does not have a value in the enumeration '{}'", allowed.join(", ")));
            }
        }
        Ok(())
    }

    fn matches_pattern(&self, pattern: &str, value: &str) -> bool {
        let mut cache = self.regex_cache.lock().unwrap_or_else(|e| e.into_inner());
        let compiled =
            cache.entry(pattern.to_string()).or_insert_with(|| Regex::new(&format!("^(?:{})$", perl_to_rust_regex(pattern))).ok());
        // A pattern the regex engine cannot express is not enforced rather than rejecting everything.
        compiled.as_ref().is_none_or(|re| re.is_match(value))
    }

    /// Sub-key errors come back as PVE prints them: `invalid format - format error` followed by one
    /// `param.key: message` line each.
    fn check_property_string(&self, name: &str, sub: &serde_json::Map<String, Value>, value: &str) -> Result<(), String> {
        let default_key = sub.iter().find(|(_, s)| s["default_key"].as_i64() == Some(1)).map(|(k, _)| k.as_str());
        let parsed = PropertyString::parse(value, default_key).map_err(|e| format!("invalid format - {e}"))?;
        let mut problems = Vec::new();
        for (key, item) in parsed.iter() {
            let Some(spec) = sub.get(key) else {
                problems
                    .push(format!("{name}.{key}: property is not defined in schema and the schema does not allow additional properties"));
                continue;
            };
            // `virtio=MAC` stands for model=virtio,macaddr=MAC.
            let target = spec["alias"].as_str().and_then(|alias| sub.get(alias)).unwrap_or(spec);
            let item = if target["type"] == "boolean" { normalize_bool(item) } else { item.to_string() };
            if let Err(e) = self.check_value(&format!("{name}.{key}"), target, &item) {
                problems.push(format!("{name}.{key}: {e}"));
            }
        }
        for (key, spec) in sub {
            let given = parsed.get(key).is_some()
                || sub.iter().any(|(k, s)| {
                    (s["keyAlias"].as_str() == Some(key.as_str()) || s["alias"].as_str() == Some(key.as_str())) && parsed.get(k).is_some()
                });
            let optional = spec["optional"].as_i64().unwrap_or(0) != 0 || spec.get("alias").is_some() || spec.get("keyAlias").is_some();
            if !optional && !given && spec.get("default").is_none() {
                problems.push(format!("{name}.{key}: property is missing and it is not optional"));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(format!("invalid format - format error\n{}", problems.join("\n"))) }
    }

    /// Checks a named format; the message is the validator's (the caller adds "invalid format - ").
    fn check_format(&self, format: &str, value: &str) -> Result<(), String> {
        if let Some(item_format) = format.strip_suffix("-list") {
            for item in value.split([',', ';', ' ', '\t', '\0']).filter(|s| !s.is_empty()) {
                self.check_format(item_format, item)?;
            }
            return Ok(());
        }
        let ok = match format {
            "pve-vmid" => pattern_ok(r"^[1-9][0-9]{2,8}$", value),
            "pve-node" => pattern_ok(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$", value),
            "pve-configid" => pattern_ok(r"(?i)^[a-z][a-z0-9_-]+$", value),
            "pve-storage-id" if value.len() < 2 => return Err(format!("storage ID '{value}' cannot be shorter than 2 characters")),
            "pve-storage-id" => pattern_ok(r"(?i)^[a-z][a-z0-9\-_.]*[a-z0-9]$", value),
            "pve-poolid" => pattern_ok(r"^[A-Za-z0-9_][A-Za-z0-9_\-/]*$", value) && value.len() <= 64,
            "pve-bridge-id" => pattern_ok(r"^[-_.\w\d]+$", value) && value.len() <= 15,
            "pve-tag" => pve_api::tags::is_valid_tag(value),
            "pve-volume-id" => pattern_ok(r"(?i)^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$", value),
            "pve-volume-id-or-qm-path" | "pve-volume-id-or-absolute-path" => {
                value == "none"
                    || value == "cdrom"
                    || value.starts_with('/')
                    || pattern_ok(r"(?i)^([a-z][a-z0-9\-_.]*[a-z0-9]):(.*)$", value)
            }
            "mac-addr" => pattern_ok(r"(?i)^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$", value),
            "ipv4" => value.parse::<std::net::Ipv4Addr>().is_ok(),
            "ipv6" => value.parse::<std::net::Ipv6Addr>().is_ok(),
            "CIDR" | "IPorCIDR" => is_cidr(value, format == "IPorCIDR"),
            "dns-name" => pattern_ok(r"(?i)^([a-z0-9]([a-z0-9\-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9\-]*[a-z0-9])?$", value),
            "pve-calendar-event" => value.parse::<pve_api::calendar::CalendarEvent>().is_ok(),
            "disk-size" => pve_api::size::parse_size(value).is_ok(),
            "pve-userid" => pattern_ok(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9\.\-_]+$", value),
            "pve-realm" => pattern_ok(r"^[A-Za-z][A-Za-z0-9\.\-_]+$", value),
            // pve-access-control `AccessControl.pm`: verify_privname, verify_rolename,
            // verify_groupname, pve_verify_tokenid.
            "pve-priv" => pve_api::privileges::is_valid(value),
            "pve-roleid" | "pve-groupid" => pattern_ok(r"^[A-Za-z0-9\.\-_]+$", value),
            "pve-tokenid" => pattern_ok(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9\.\-_]+![A-Za-z][A-Za-z0-9\.\-_]+$", value),
            "pve-qm-ipconfig" => return self.check_ipconfig(value),
            "pve-startup-order" => pattern_ok(r"^(order=\d+)?(,?(up|down)=\d+)*$", value.trim_start_matches(',')),
            "pve-ha-resource-or-vm-id" => pattern_ok(r"^((vm|ct):)?[1-9][0-9]{2,8}$", value),
            _ => match self.named_formats.get(format) {
                Some(pattern) if pattern.starts_with('^') => {
                    let case_insensitive = pattern.contains("(case-insensitive)");
                    let regex = pattern.split(" (").next().unwrap_or(pattern);
                    pattern_ok(&format!("{}{regex}", if case_insensitive { "(?i)" } else { "" }), value)
                }
                _ => true,
            },
        };
        if ok { Ok(()) } else { Err(format_message(format, value)) }
    }

    fn check_ipconfig(&self, value: &str) -> Result<(), String> {
        let parsed = PropertyString::parse(value, None).map_err(|e| e.to_string())?;
        for (key, item) in parsed.iter() {
            let ok = match key {
                "ip" => item == "dhcp" || is_cidr(item, false) && item.parse::<IpAddr>().is_err() && !item.contains(':'),
                "ip6" => matches!(item, "dhcp" | "auto") || (is_cidr(item, false) && item.contains(':')),
                "gw" => item.parse::<std::net::Ipv4Addr>().is_ok(),
                "gw6" => item.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => {
                    return Err(format!("{key}: property is not defined in schema and the schema does not allow additional properties"));
                }
            };
            if !ok {
                return Err(format!(
                    "{key}: value does not look like a valid {}",
                    if key.starts_with("gw") { "IP address" } else { "CIDR network" }
                ));
            }
        }
        Ok(())
    }
}

fn format_message(format: &str, value: &str) -> String {
    match format {
        "pve-vmid" => "value does not look like a valid VM ID".into(),
        "pve-node" => "value does not look like a valid node name".into(),
        "pve-configid" => format!("invalid configuration ID '{value}'"),
        "pve-storage-id" => format!("storage ID '{value}' contains illegal characters"),
        "pve-tag" => "invalid characters in tag".into(),
        "pve-calendar-event" => match value.parse::<pve_api::calendar::CalendarEvent>() {
            Err(e) => format!("invalid calendar event '{value}' - {e}"),
            Ok(_) => format!("invalid calendar event '{value}'"),
        },
        "mac-addr" => "value does not look like a valid unicast MAC address".into(),
        "dns-name" => "value does not look like a valid DNS name".into(),
        "pve-bridge-id" => format!("invalid bridge ID '{value}'"),
        "pve-poolid" => format!("pool name '{value}' contains illegal characters"),
        "pve-priv" => format!("invalid privilege '{value}'"),
        "pve-roleid" => format!("role name '{value}' contains invalid characters"),
        "pve-groupid" => format!("group name '{value}' contains invalid characters"),
        "pve-tokenid" => format!("value '{value}' does not look like a valid token ID"),
        _ => format!("value does not look like a valid {format}"),
    }
}

/// Inside property strings PVE reads on/yes/true and off/no/false as booleans.
fn normalize_bool(value: &str) -> String {
    match value.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => "1".into(),
        "0" | "off" | "no" | "false" => "0".into(),
        other => other.to_string(),
    }
}

fn pattern_ok(pattern: &str, value: &str) -> bool {
    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if !cache.contains_key(pattern) {
        match Regex::new(pattern) {
            Ok(re) => {
                cache.insert(pattern.to_string(), re);
            }
            Err(_) => return true,
        }
    }
    cache[pattern].is_match(value)
}

fn is_cidr(value: &str, bare_ip_allowed: bool) -> bool {
    match value.split_once('/') {
        Some((ip, prefix)) => match (ip.parse::<IpAddr>(), prefix.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(p)) => p <= 32 && !prefix.starts_with('+'),
            (Ok(IpAddr::V6(_)), Ok(p)) => p <= 128 && !prefix.starts_with('+'),
            _ => false,
        },
        None => bare_ip_allowed && value.parse::<IpAddr>().is_ok(),
    }
}

/// PVE's patterns are Perl: strip the `(?^:…)` wrapper and spell `{,n}` as `{0,n}`.
fn perl_to_rust_regex(pattern: &str) -> String {
    let mut p = pattern.to_string();
    while let Some(inner) = p.strip_prefix("(?^:").and_then(|s| s.strip_suffix(')')) {
        p = inner.to_string();
    }
    p.replace("(?^:", "(?:").replace("{,", "{0,")
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 { format!("{}", n as i64) } else { n.to_string() }
}

/// Converts stored config text values to the JSON types the schema's `returns` gives them.
pub fn typed_value(properties: Option<&serde_json::Map<String, Value>>, key: &str, value: &str) -> Value {
    let spec = properties.and_then(|p| {
        p.get(key).or_else(|| {
            let prefix = key.trim_end_matches(|c: char| c.is_ascii_digit());
            (prefix != key).then(|| p.get(&format!("{prefix}[n]"))).flatten()
        })
    });
    match spec.and_then(|s| s["type"].as_str()) {
        Some("integer") | Some("boolean") => value.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(value)),
        Some("number") => value.parse::<f64>().map(Value::from).unwrap_or_else(|_| Value::from(value)),
        _ => Value::from(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn errors(key: &str, pairs: &[(&str, &str)]) -> ParamErrors {
        let (method, path) = key.split_once(' ').unwrap();
        let route = SCHEMA.route(method, path).unwrap();
        let mut all = route.path_params.clone();
        all.extend(params(pairs));
        SCHEMA.validate(route.spec, &all).err().unwrap_or_default()
    }

    #[test]
    fn routes_prefer_literal_segments() {
        let route = SCHEMA.route("GET", "/nodes/pve1/qemu/100/config").unwrap();
        assert_eq!(route.spec.key(), "GET /nodes/{node}/qemu/{vmid}/config");
        assert_eq!(route.path_params["vmid"], "100");
        assert!(SCHEMA.route("GET", "/nodes/pve1/nonsense/100").is_none());
    }

    #[test]
    fn schema_messages() {
        let e = errors("POST /nodes/pve1/qemu", &[("vmid", "50"), ("memory", "8"), ("bogus", "1"), ("tags", "ok;-bad"), ("cores", "0")]);
        assert_eq!(e["vmid"], "invalid format - value does not look like a valid VM ID");
        assert_eq!(e["cores"], "value must have a minimum value of 1");
        assert_eq!(e["memory"], "invalid format - format error\nmemory.current: value must have a minimum value of 16");
        assert_eq!(e["bogus"], "property is not defined in schema and the schema does not allow additional properties");
        assert_eq!(e["tags"], "invalid format - invalid characters in tag");
        let e = errors(
            "POST /nodes/pve1/qemu",
            &[("vmid", "100"), ("onboot", "true"), ("net0", "virtio,bridge=vmbr0"), ("ipconfig0", "ip=10.0.0.300/24")],
        );
        assert_eq!(e["onboot"], "type check ('boolean') failed - got 'true'");
        assert!(!e.contains_key("net0"), "{e:?}");
        assert!(e["ipconfig0"].starts_with("invalid format - ip:"), "{e:?}");
        let e = errors("POST /nodes/pve1/qemu", &[("vmid", "100"), ("net0", "model=bogus,firewall=maybe")]);
        assert!(e["net0"].starts_with("invalid format - format error\n"), "{e:?}");
        assert!(e["net0"].contains("\nnet0.firewall: type check ('boolean') failed - got 'maybe'"), "{e:?}");
        assert!(e["net0"].contains("\nnet0.model: value 'bogus' does not have a value in the enumeration 'e1000, "), "{e:?}");
        let e = errors("POST /nodes/pve1/qemu", &[("vmid", "100"), ("scsihw", "fast")]);
        assert!(e["scsihw"].starts_with("value 'fast' does not have a value in the enumeration 'lsi, "), "{e:?}");
        let e = errors("POST /nodes/pve1/qemu", &[("vmid", "100"), ("net99", "virtio")]);
        assert!(e.contains_key("net99"));
        let e = errors("POST /cluster/backup", &[("schedule", "funday 25:00")]);
        assert!(e["schedule"].contains("unable to parse calendar event"), "{e:?}");
        let e = errors("POST /nodes/pve1/qemu/100/clone", &[]);
        assert_eq!(e["newid"], "property is missing and it is not optional");
        let e = errors("GET /nodes/bad_node!/qemu", &[]);
        assert_eq!(e["node"], "invalid format - value does not look like a valid node name");
        let e = errors("POST /nodes/pve1/qemu", &[("vmid", "99")]);
        assert_eq!(e["vmid"], "invalid format - value does not look like a valid VM ID");
    }

    #[test]
    fn accepts_realistic_requests() {
        let e = errors(
            "POST /nodes/pve1/qemu",
            &[
                ("vmid", "101"),
                ("name", "rke2-master-1"),
                ("cores", "2"),
                ("memory", "4096"),
                ("cpu", "host"),
                ("scsihw", "virtio-scsi-pci"),
                ("scsi0", "local-lvm:50,iothread=1,discard=on"),
                ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10"),
                ("ipconfig0", "ip=10.10.10.101/24,gw=10.10.10.1"),
                ("tags", "rke2;Prod"),
                ("onboot", "1"),
            ],
        );
        assert!(e.is_empty(), "{e:?}");
    }
}

const SECRET_WORDS: &[&str] = &["password", "passwd", "secret", "token", "key", "keyring", "otp", "totp", "certkey", "cipassword"];
/// Names made of those words that hold public or harmless values.
const NOT_SECRET: &[&str] =
    &["ssh-public-keys", "sshkeys", "master-pubkey", "tokenid", "tokens", "config-keys", "keys", "generate-password"];

/// A parameter name made of words such as `password`, `key`, `token` or `secret` (`cipassword`,
/// `client-key`, `eab-hmac-key`, `lock-token`, …), matched by words, so `keyboard` is not one.
fn names_a_secret(name: &str) -> bool {
    !NOT_SECRET.contains(&name) && name.split(['-', '_']).any(|word| SECRET_WORDS.contains(&word))
}

/// Every string parameter of any method whose name or format marks a secret.
fn secret_parameters(methods: &[MethodSpec]) -> std::collections::HashSet<String> {
    let mut secret = std::collections::HashSet::new();
    for method in methods {
        let Some(properties) = method.parameters["properties"].as_object() else { continue };
        for (name, spec) in properties {
            let is_string = spec["type"].as_str().is_none_or(|t| t == "string" || t == "array");
            let format = spec["format"].as_str().unwrap_or("");
            if is_string && !NOT_SECRET.contains(&name.as_str()) && (names_a_secret(name) || format.contains("password")) {
                secret.insert(name.clone());
            }
        }
    }
    secret
}

#[cfg(test)]
mod secret_tests {
    #[test]
    fn secrets_are_recognised_by_their_words() {
        for name in
            ["password", "cipassword", "key", "client-key", "eab-hmac-key", "token", "lock-token", "keyring", "otp", "encryption-key"]
        {
            assert!(super::SCHEMA.is_secret(name), "{name}");
        }
        for name in ["keyboard", "sshkeys", "ssh-public-keys", "tokenid", "description", "generate-password", "name"] {
            assert!(!super::SCHEMA.is_secret(name), "{name}");
        }
    }
}
