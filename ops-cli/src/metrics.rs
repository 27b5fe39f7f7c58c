//! Prometheus textfile metrics, written atomically (temp file + rename) so node_exporter's
//! textfile collector never reads half a file.

use std::fmt::Write as _;
use std::path::Path;

/// One metric family: name, help, type, and samples with labels.
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Self { name, help, kind: "gauge", samples: Vec::new() }
    }

    pub fn sample(mut self, labels: Vec<(&'static str, String)>, value: f64) -> Self {
        self.samples.push((labels, value));
        self
    }

    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The text exposition format of the families.
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for (labels, value) in &family.samples {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
            let _ = writeln!(out, "{}{labels} {value}", family.name);
        }
    }
    out
}

/// Writes `<dir>/<name>.prom` atomically.
pub fn write(dir: &Path, name: &str, families: &[Family]) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join(format!("{name}.prom"));
    let temp = dir.join(format!(".{name}.prom.{}", std::process::id()));
    std::fs::write(&temp, render(families))?;
    std::fs::rename(&temp, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_escapes() {
        let text = render(&[Family::gauge("pve_lab_expired", "Expired lab guests.").sample(vec![("guest", "a\"b".into())], 1.0)]);
        assert_eq!(text, "# HELP pve_lab_expired Expired lab guests.\n# TYPE pve_lab_expired gauge\npve_lab_expired{guest=\"a\\\"b\"} 1\n");
    }

    #[test]
    fn writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "test", &[Family::gauge("x", "y").sample(vec![], 2.0)]).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "# HELP x y\n# TYPE x gauge\nx 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left behind");
    }
}
