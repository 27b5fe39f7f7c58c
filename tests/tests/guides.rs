//! The operator guides (`docs/guides/*.md`) against the real pve-ops: every `pve-ops` command
//! they show, in code blocks and in inline code, must parse with this pve-ops (subcommand, flags,
//! flag values), so a renamed flag or subcommand fails here instead of in a reader's terminal.
//! Each command is run with `--help` appended: clap checks every word before it prints the help,
//! and nothing is executed.

use std::path::{Path, PathBuf};
use std::process::Command;

use pve_home_tests::{CliRun, repo_root, workspace_binary};

/// A `pve-ops` command line found in a guide.
struct GuideCommand {
    guide: String,
    line: usize,
    words: Vec<String>,
}

/// Splits a shell line into words (single and double quotes, backslash escapes), stopping at the
/// first word that ends the command: a pipe, `&&`, `||`, `;`, a redirection or a comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    let end = words
        .iter()
        .position(|w| matches!(w.as_str(), "|" | "&&" | "||" | ";") || w.starts_with(['>', '<', '#']) || w.starts_with("2>"))
        .unwrap_or(words.len());
    words.truncate(end);
    words
}

/// Shell variables in a command stand for values the reader's shell has; for parsing, a port
/// needs a number and anything else a word.
fn expand(word: &str) -> String {
    if !word.contains('$') {
        return word.to_string();
    }
    word.replace("$PVE_SSH_PORT", "2222").replace('$', "")
}

/// The pve-ops command lines of one guide: lines of fenced code blocks (a `$ ` prompt and
/// `/usr/local/bin/` are dropped; `\` continues a line) and inline code spans outside blocks.
fn guide_commands(guide: &str, text: &str) -> Vec<GuideCommand> {
    let strip = |s: &str| -> Option<String> {
        let s = s.trim_start();
        let s = s.strip_prefix("$ ").unwrap_or(s);
        let s = s.strip_prefix("/usr/local/bin/").unwrap_or(s);
        s.starts_with("pve-ops ").then(|| s.to_string())
    };
    let mut found = Vec::new();
    let mut in_block = false;
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let number = i + 1;
        i += 1;
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            let Some(mut command) = strip(line) else { continue };
            while command.ends_with('\\') && i < lines.len() {
                command.pop();
                command.push(' ');
                command.push_str(lines[i].trim());
                i += 1;
            }
            found.push((number, command));
        } else {
            // Inline code: the odd-numbered pieces between backticks.
            for span in line.split('`').skip(1).step_by(2) {
                if let Some(command) = strip(span) {
                    found.push((number, command));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|(line, command)| GuideCommand {
            guide: guide.to_string(),
            line,
            words: shell_words(&command).iter().skip(1).map(|w| expand(w)).collect(),
        })
        .collect()
}

fn guides() -> Vec<(String, String)> {
    let dir: PathBuf = repo_root().join("docs/guides");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
        .into_iter()
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            (name, std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        })
        .collect()
}

/// pve-ops's verdict on the words: exit 0 with `--help` when every word parses.
fn parses(pve_ops: &Path, words: &[String]) -> CliRun {
    CliRun::of(Command::new(pve_ops).args(words).arg("--help").env_remove("PVE_OPS_CONFIG"))
}

#[test]
fn every_pve_ops_command_in_the_guides_parses() {
    let pve_ops = workspace_binary("pve-ops");
    let commands: Vec<GuideCommand> = guides().iter().flat_map(|(name, text)| guide_commands(name, text)).collect();
    // The guides show far more than this; fewer means the extraction broke, not the guides.
    assert!(commands.len() >= 40, "only {} pve-ops commands found in docs/guides", commands.len());
    let failures: Vec<String> = commands
        .iter()
        .filter_map(|c| {
            let run = parses(&pve_ops, &c.words);
            (run.code != 0).then(|| format!("{}:{}: pve-ops {}\n{}", c.guide, c.line, c.words.join(" "), run.stderr))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} commands do not parse:\n{}", failures.len(), commands.len(), failures.join("\n"));
}

#[test]
fn the_check_refuses_a_flag_or_subcommand_pve_ops_does_not_have() {
    let pve_ops = workspace_binary("pve-ops");
    let text = "```sh\npve-ops snapshot create 200 --bogus\n```\nAnd inline: `pve-ops snapshot creat 200`.\n\
                ```text\n$ pve-ops --yes drift \\\n  --env lab --frobnicate | jq .\n```\n";
    let commands = guide_commands("example.md", text);
    assert_eq!(commands.iter().map(|c| c.line).collect::<Vec<_>>(), vec![2, 4, 6]);
    assert_eq!(commands[2].words, ["--yes", "drift", "--env", "lab", "--frobnicate"]);
    for command in &commands {
        let run = parses(&pve_ops, &command.words);
        assert_eq!(run.code, 2, "pve-ops {} should be a usage error:\n{}", command.words.join(" "), run.stderr);
    }
    // And the same commands, corrected, pass.
    let good = guide_commands("example.md", "```sh\npve-ops snapshot create 200 --name x\n$ pve-ops --yes drift --env lab | jq .\n```\n");
    assert_eq!(good.len(), 2);
    for command in &good {
        assert_eq!(parses(&pve_ops, &command.words).code, 0, "pve-ops {}", command.words.join(" "));
    }
}

#[test]
fn shell_words_follow_quotes_and_stop_at_the_end_of_the_command() {
    assert_eq!(
        shell_words(r#"pve-ops snapshot create 200 --description "before apt full-upgrade" && qm reboot 200"#),
        ["pve-ops", "snapshot", "create", "200", "--description", "before apt full-upgrade"]
    );
    assert_eq!(shell_words("pve-ops drift --env lab >/dev/null 2>&1"), ["pve-ops", "drift", "--env", "lab"]);
    assert_eq!(shell_words("pve-ops drift --env 'a b' # comment"), ["pve-ops", "drift", "--env", "a b"]);
    assert_eq!(expand("$PVE_SSH_PORT"), "2222");
    assert_eq!(expand("$HOME/.ssh/id"), "HOME/.ssh/id");
}
