//! Reading `.trivyignore` from the workspace (the list and its rule are
//! `model::ignore`, which does no I/O).

use std::path::{Path, PathBuf};

use crate::fsx;
use crate::model::ignore::IgnoreList;

use super::InputError;

impl IgnoreList {
    /// Reads `path`; a missing file is an empty list unless `required`.
    pub fn load(path: &Path, required: bool) -> Result<Self, InputError> {
        match fsx::read_to_string(path, "ignore file", fsx::Follow::No, fsx::SMALL) {
            Ok(text) => Self::parse(path, &text).map_err(|e| {
                InputError::invalid(
                    format!("{} line {}", e.path.display(), e.line),
                    format!("`{}` is not a date", e.value),
                    "`exp:YYYY-MM-DD`",
                )
            }),
            Err(e) if e.is_not_found() && !required => Ok(Self::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Several files read as one, in order (`trivyignores`): a later entry for the same
    /// ID wins.
    pub fn load_all(paths: &[PathBuf], required: bool) -> Result<Self, InputError> {
        let mut all = Self::default();
        for p in paths {
            all.extend(Self::load(p, required)?);
        }
        Ok(all)
    }
}
