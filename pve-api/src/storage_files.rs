//! pve-storage's rules for files fetched into a storage (`download-url`, `upload`): how a file
//! name is normalized, which extensions each content type takes, and the checksum algorithms.
//! Shared by the emulator (which applies them as PVE does) and the provider (which refuses at
//! plan time what PVE would refuse).

/// The content types `download-url` takes (pve-storage `PVE/API2/Storage/Status.pm`).
pub const DOWNLOAD_CONTENT: [&str; 3] = ["iso", "vztmpl", "import"];

/// `checksum-algorithm` values and the length of their hex digests.
pub const CHECKSUM_ALGORITHMS: [(&str, usize); 6] =
    [("md5", 32), ("sha1", 40), ("sha224", 56), ("sha256", 64), ("sha384", 96), ("sha512", 128)];

/// pve-storage `normalize_content_filename`: the last path segment, every character outside
/// `[a-zA-Z0-9_.-]` replaced by `_`.
pub fn normalize_content_filename(name: &str) -> String {
    let name = name.trim_end_matches('\n');
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    last.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' }).collect()
}

/// The format a content listing gives a file of `content` named `filename` (pve-storage
/// `get_subdir_files`), or the message PVE raises on `filename` when the name does not fit the
/// content (`$ISO_EXT_RE_0`, `$VZTMPL_EXT_RE_1`; for import `$SAFE_CHAR_CLASS_RE` and
/// `$UPLOAD_IMPORT_EXT_RE_1`, case-sensitive).
pub fn content_file_format(content: &str, filename: &str) -> Result<String, String> {
    let lower = filename.to_ascii_lowercase();
    let has_stem = |suffix: &str| filename.len() > suffix.len();
    match content {
        "iso" => [".iso", ".img"]
            .iter()
            .any(|ext| lower.ends_with(ext) && has_stem(ext))
            .then(|| "iso".to_string())
            .ok_or_else(|| "wrong file extension".to_string()),
        "vztmpl" => {
            if lower.ends_with(".tar") && has_stem(".tar") {
                return Ok("tar".into());
            }
            ["gz", "xz", "zst", "bz2"]
                .iter()
                .find(|ext| lower.ends_with(&format!(".tar.{ext}")) && has_stem(&format!(".tar.{ext}")))
                .map(|ext| format!("t{ext}"))
                .ok_or_else(|| "wrong file extension".to_string())
        }
        "import" => {
            let safe = filename.chars().all(|c| c.is_ascii_alphanumeric() || "-.+=_".contains(c));
            ["ova", "qcow2", "raw", "vmdk"]
                .iter()
                .find(|ext| safe && filename.ends_with(&format!(".{ext}")) && has_stem(&format!(".{ext}")))
                .map(|ext| ext.to_string())
                .ok_or_else(|| "invalid filename or wrong extension".to_string())
        }
        other => Err(format!("upload content-type '{other}' is not allowed")),
    }
}

/// The subdirectory of a directory storage for a content type (pve-storage
/// `PVE::Storage::Plugin::get_subdir`).
pub fn content_subdir(content: &str) -> &'static str {
    match content {
        "iso" => "template/iso",
        "vztmpl" => "template/cache",
        "import" => "import",
        "snippets" => "snippets",
        "backup" => "dump",
        _ => "images",
    }
}

/// Why `checksum` is not a digest of `algorithm`; None when it is hex of the right length.
pub fn checksum_problem(algorithm: &str, checksum: &str) -> Option<String> {
    let Some((_, length)) = CHECKSUM_ALGORITHMS.iter().find(|(name, _)| *name == algorithm) else {
        return Some(format!("'{algorithm}' is not one of md5, sha1, sha224, sha256, sha384, sha512"));
    };
    if checksum.len() != *length || !checksum.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!("a {algorithm} checksum is {length} hex digits; got {} characters", checksum.len()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_normalized_like_pve() {
        assert_eq!(normalize_content_filename("a/b\\noble server.img"), "noble_server.img");
        assert_eq!(normalize_content_filename("ubuntu-24.04.qcow2\n"), "ubuntu-24.04.qcow2");
    }

    #[test]
    fn each_content_takes_its_extensions() {
        assert_eq!(content_file_format("iso", "x.ISO").unwrap(), "iso");
        assert_eq!(content_file_format("iso", "x.img").unwrap(), "iso");
        assert!(content_file_format("iso", "x.qcow2").is_err());
        assert!(content_file_format("iso", ".iso").is_err());
        assert_eq!(content_file_format("vztmpl", "d.tar.zst").unwrap(), "tzst");
        assert_eq!(content_file_format("vztmpl", "d.tar").unwrap(), "tar");
        assert!(content_file_format("vztmpl", "d.tar.lz4").is_err());
        assert_eq!(content_file_format("import", "noble.qcow2").unwrap(), "qcow2");
        // Ubuntu's `.img` cloud images must be named `.qcow2` (or `.raw`) for import.
        assert_eq!(content_file_format("import", "noble.img").unwrap_err(), "invalid filename or wrong extension");
        assert!(content_file_format("import", "noble.QCOW2").is_err());
        assert!(content_file_format("snippets", "a.yaml").is_err());
    }

    #[test]
    fn checksums_are_hex_of_the_algorithms_length() {
        assert_eq!(checksum_problem("sha256", &"a".repeat(64)), None);
        assert_eq!(checksum_problem("md5", &"F".repeat(32)), None);
        assert!(checksum_problem("sha256", &"a".repeat(63)).unwrap().contains("64 hex digits"));
        assert!(checksum_problem("sha512", &"g".repeat(128)).is_some());
        assert!(checksum_problem("crc32", "00").is_some());
    }
}
