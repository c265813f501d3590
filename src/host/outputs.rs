//! `--outputs-file PATH`: a step's outputs as one JSON object, for later steps and tests.

use std::collections::BTreeMap;
use std::path::Path;

use super::HostError;

/// Writes `outputs` as pretty JSON, atomically (a reader never sees half a file).
pub fn write_outputs_file(
    path: &Path,
    outputs: &BTreeMap<String, String>,
) -> Result<(), HostError> {
    let json = serde_json::to_string_pretty(outputs).expect("a map of strings serializes");
    let bytes = (json + "\n").into_bytes();
    Ok(crate::fsx::write(path, "the outputs file", &bytes, 0o644)?)
}
