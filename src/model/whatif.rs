//! What ARM's what-if says a deployment would change: one [`Change`] per resource, with
//! property deltas for a Modify. Parsed by the deployments client, rendered for the
//! log, the job summary and the PR comment.

/// ARM's `changeType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum ChangeKind {
    Create,
    Modify,
    Delete,
    Deploy,
    NoChange,
    Ignore,
    Unsupported,
}

impl ChangeKind {
    pub fn parse(v: &str) -> ChangeKind {
        match v {
            "Create" => ChangeKind::Create,
            "Modify" => ChangeKind::Modify,
            "Delete" => ChangeKind::Delete,
            "Deploy" => ChangeKind::Deploy,
            "NoChange" => ChangeKind::NoChange,
            "Ignore" => ChangeKind::Ignore,
            _ => ChangeKind::Unsupported,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Create => "Create",
            ChangeKind::Modify => "Modify",
            ChangeKind::Delete => "Delete",
            ChangeKind::Deploy => "Deploy",
            ChangeKind::NoChange => "NoChange",
            ChangeKind::Ignore => "Ignore",
            ChangeKind::Unsupported => "Unsupported",
        }
    }
}

/// One property change of a Modify (`delta[]`, arrays flattened to their items).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Delta {
    pub path: String,
    /// `Create`, `Delete`, `Modify`, `Array`, `NoEffect`, `ArrayItemMove`.
    pub kind: String,
    /// Compact JSON of the value before / after, when ARM gave one.
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub resource_id: String,
    pub kind: ChangeKind,
    pub deltas: Vec<Delta>,
    /// Why what-if cannot say (Unsupported).
    pub reason: Option<String>,
}

impl Change {
    /// `type/name` from the ID: the part after the last `/providers/`.
    pub fn short_name(&self) -> &str {
        match self.resource_id.rfind("/providers/") {
            Some(i) => &self.resource_id[i + "/providers/".len()..],
            None => &self.resource_id,
        }
    }
}

/// Counts by kind, in the order they are shown.
pub fn counts(changes: &[Change]) -> Vec<(ChangeKind, usize)> {
    let mut out: Vec<(ChangeKind, usize)> = Vec::new();
    for c in changes {
        match out.iter_mut().find(|(k, _)| *k == c.kind) {
            Some((_, n)) => *n += 1,
            None => out.push((c.kind, 1)),
        }
    }
    out.sort();
    out
}
