//! `.trivyignore`, read the way Trivy reads it: one finding ID per line, `#` comments,
//! and an optional `exp:YYYY-MM-DD` after which the entry no longer applies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;

use crate::inputs::InputError;

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
    /// Reads `path`; a missing file is an empty list unless `required`.
    pub fn load(path: &Path, required: bool) -> Result<Self, InputError> {
        use crate::fsx;
        match fsx::read_to_string(path, "ignore file", fsx::Follow::No, fsx::SMALL) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.is_not_found() && !required => Ok(Self::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Several files read as one, in order, the way trivy-action's `trivyignores` joins
    /// them into one file for Trivy: a later entry for the same ID wins.
    pub fn load_all(paths: &[PathBuf], required: bool) -> Result<Self, InputError> {
        let mut all = Self::default();
        for p in paths {
            all.entries.extend(Self::load(p, required)?.entries);
        }
        Ok(all)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, InputError> {
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
                    until = Some(d.parse::<Date>().map_err(|_| {
                        InputError::invalid(
                            format!("{} line {}", path.display(), n + 1),
                            format!("`{d}` is not a date"),
                            "`exp:YYYY-MM-DD`",
                        )
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
