//! Reading `.trivyignore` from the workspace (the list and its rule are
//! `model::ignore`, which does no I/O).

use std::path::Path;

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
}
