//! `--outputs-file PATH`: a step's outputs as one JSON object, for later steps and tests.

use std::collections::BTreeMap;
use std::path::Path;

use super::HostError;

/// Writes `outputs` as pretty JSON, atomically (a reader never sees half a file).
pub fn write_outputs_file(
    path: &Path,
    outputs: &BTreeMap<String, String>,
) -> Result<(), HostError> {
    let err = |source| HostError::Write {
        what: "the outputs file",
        path: path.to_path_buf(),
        source,
    };
    let json = serde_json::to_string_pretty(outputs).expect("a map of strings serializes");
    let tmp = path.with_extension("tmp-aks-backend");
    std::fs::write(&tmp, json + "\n").map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
