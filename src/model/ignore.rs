//! `.trivyignore`, read the way Trivy reads it: one finding ID per line, `#` comments,
//! and an optional `exp:YYYY-MM-DD` after which the entry no longer applies. Reading
//! the file is the inputs' (`inputs::ignore_file`); this is the list and its rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;

/// An `exp:` that is not a date: the file, the line (from 1) and what it held.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} line {line}: `{value}` is not a date", path.display())]
pub struct BadExpiry {
    pub path: PathBuf,
    pub line: usize,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreList {
    entries: HashMap<String, Option<Date>>,
}

/// Why a finding is not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreMatch {
    /// Listed; `until` is the expiry date, if any.
    Ignored { until: Option<Date> },
    /// Listed, but the entry expired on that date.
    Expired(Date),
}

impl IgnoreList {
    /// Adds a later file's entries: a later entry for the same ID wins, the way
    /// trivy-action's `trivyignores` joins several files into one for Trivy.
    pub fn extend(&mut self, later: Self) {
        self.entries.extend(later.entries);
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, BadExpiry> {
        let mut entries = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let id = parts.next().unwrap_or_default().to_string();
            let mut until = None;
            for p in parts {
                if let Some(d) = p.strip_prefix("exp:") {
                    until = Some(d.parse::<Date>().map_err(|_| BadExpiry {
                        path: path.to_path_buf(),
                        line: n + 1,
                        value: d.to_string(),
                    })?);
                }
            }
            entries.insert(id, until);
        }
        Ok(IgnoreList { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `id` is ignored on `today`.
    pub fn check(&self, id: &str, today: Date) -> Option<IgnoreMatch> {
        match self.entries.get(id)? {
            Some(until) if *until < today => Some(IgnoreMatch::Expired(*until)),
            until => Some(IgnoreMatch::Ignored { until: *until }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn ids_comments_and_expiry() {
        let l = IgnoreList::parse(
            Path::new(".trivyignore"),
            "# comment\nCVE-1\nCVE-2 exp:2026-01-01\n\nCVE-3 exp:2099-01-01 # until fixed\n",
        )
        .unwrap();
        let today = date(2026, 11, 22);
        assert_eq!(
            l.check("CVE-1", today),
            Some(IgnoreMatch::Ignored { until: None })
        );
        assert_eq!(
            l.check("CVE-2", today),
            Some(IgnoreMatch::Expired(date(2026, 1, 1)))
        );
        assert!(matches!(
            l.check("CVE-3", today),
            Some(IgnoreMatch::Ignored { .. })
        ));
        assert_eq!(l.check("CVE-4", today), None);
    }

    #[test]
    fn bad_date_names_the_line() {
        let e =
            IgnoreList::parse(Path::new(".trivyignore"), "CVE-1\nCVE-2 exp:soon\n").unwrap_err();
        assert!(e.to_string().contains(".trivyignore line 2"), "{e}");
    }
}
