//! Kubernetes objects as YAML: the one place that writes the multi-document stream
//! `--dry-run` prints and the snapshots hold. What the objects are is planning
//! (`plan::manifests`).

use serde_json::Value;

/// Objects as one multi-document YAML stream (for `--dry-run` and snapshots).
pub fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        // A `serde_json::Value` always serializes (its map keys are strings).
        .map(|o| serde_norway::to_string(o).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}
