//! The one line (or JSON value) a command prints when it is done: every command reports through
//! here, so `--json` means the same thing everywhere.

use crate::Ops;

/// Prints `value` with `--json`, else `text`.
pub fn report(ops: &Ops, text: &str, value: serde_json::Value) {
    if ops.json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}
