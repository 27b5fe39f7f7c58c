//! Diagnostics: what Terraform shows the user, pinned to an attribute where one is at fault.

use crate::proto::tfplugin6 as pb;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Attr(String),
    Key(String),
    Index(i64),
}

pub type Path = Vec<Step>;

pub fn attr(name: &str) -> Path {
    vec![Step::Attr(name.to_string())]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub error: bool,
    pub summary: String,
    pub detail: String,
    pub path: Option<Path>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { error: true, summary: summary.into(), detail: detail.into(), path: None }
    }

    pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { error: false, summary: summary.into(), detail: detail.into(), path: None }
    }

    pub fn at(mut self, path: Path) -> Self {
        self.path = Some(path);
        self
    }

    pub fn to_proto(&self) -> pb::Diagnostic {
        pb::Diagnostic {
            severity: if self.error { pb::diagnostic::Severity::Error } else { pb::diagnostic::Severity::Warning } as i32,
            summary: self.summary.clone(),
            detail: self.detail.clone(),
            attribute: self.path.as_ref().map(path_to_proto),
        }
    }
}

pub fn path_to_proto(steps: &Path) -> pb::AttributePath {
    pb::AttributePath {
        steps: steps
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    Step::Attr(n) => pb::attribute_path::step::Selector::AttributeName(n.clone()),
                    Step::Key(k) => pb::attribute_path::step::Selector::ElementKeyString(k.clone()),
                    Step::Index(i) => pb::attribute_path::step::Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// A list of diagnostics; `has_errors` decides whether the call failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.error)
    }

    pub fn to_proto(&self) -> Vec<pb::Diagnostic> {
        self.0.iter().map(Diagnostic::to_proto).collect()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

/// An API failure as a diagnostic; the summary says what we were doing.
/// The one conversion of a PVE API error into a diagnostic: the summary says what was being done,
/// the detail is PVE's own message (with the task log tail, when a task failed). Attach it to the
/// attribute at fault with `.at(path)`.
pub fn api_error(summary: impl Into<String>, error: &pve_api::ApiError) -> Diagnostic {
    Diagnostic::error(summary, error.to_string())
}

/// `api_error` as the diagnostics of a failed operation.
pub fn api_failure(summary: &str, error: pve_api::ApiError) -> Diagnostics {
    api_error(summary, &error).into()
}
