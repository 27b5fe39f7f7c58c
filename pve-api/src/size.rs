//! Disk sizes as PVE writes them (`32G`, `3584M`, `1.5T`, `512K`, or bare bytes).

const UNITS: [(char, u64); 4] = [('K', 1 << 10), ('M', 1 << 20), ('G', 1 << 30), ('T', 1 << 40)];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid disk size '{0}': expected a number with an optional K, M, G or T suffix")]
pub struct InvalidSize(pub String);

/// Parses a disk size into bytes.
pub fn parse_size(text: &str) -> Result<u64, InvalidSize> {
    let invalid = || InvalidSize(text.to_string());
    let trimmed = text.trim().trim_end_matches("iB");
    let (number, multiplier) = match trimmed.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let unit = UNITS.iter().find(|(u, _)| *u == c.to_ascii_uppercase()).ok_or_else(invalid)?;
            (&trimmed[..trimmed.len() - 1], unit.1)
        }
        _ => (trimmed, 1),
    };
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') || number.starts_with('.') {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes.round() as u64)
}

/// Formats bytes as PVE does in `size=`: the largest unit that divides it exactly.
pub fn format_size(bytes: u64) -> String {
    for (unit, multiplier) in UNITS.iter().rev() {
        if bytes >= *multiplier && bytes.is_multiple_of(*multiplier) {
            return format!("{}{unit}", bytes / multiplier);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size("32G").unwrap(), 32 << 30);
        assert_eq!(parse_size("3584M").unwrap(), 3584 << 20);
        assert_eq!(parse_size("1.5T").unwrap(), 3 << 39);
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn formats_largest_exact_unit() {
        assert_eq!(format_size(32 << 30), "32G");
        assert_eq!(format_size(3584 << 20), "3584M");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(1000), "1000");
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(bytes in 0u64..(1 << 50)) {
            prop_assert_eq!(parse_size(&format_size(bytes)).unwrap(), bytes);
        }
        #[test]
        fn parse_never_panics(s in ".{0,20}") {
            let _ = parse_size(&s);
        }
    }
}
