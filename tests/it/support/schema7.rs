//! Draft-07 JSON Schemas from `../shared/specs/schemas/` (SchemaStore's GitHub action and
//! workflow schemas, the Azure DevOps extension manifest), and YAML files read as JSON so
//! they can be held against them. `spec.rs` covers the Draft-4 API descriptions.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::spec::shared_dir;

fn validator(rel: &str) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache
        .entry(rel.to_string())
        .or_insert_with(|| {
            let path = shared_dir().join("specs").join(rel);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let mut doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            if let Some(o) = doc.as_object_mut() {
                o.remove("$schema");
                o.remove("$id");
            }
            Arc::new(
                jsonschema::draft7::options()
                    .should_validate_formats(false)
                    .build(&doc)
                    .unwrap_or_else(|e| panic!("{rel} does not compile: {e}")),
            )
        })
        .clone()
}

/// Validates `instance` against the Draft-07 schema `rel` (relative to `shared/specs/`);
/// the error lists every violation.
pub fn check7(rel: &str, instance: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator(rel)
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{rel}: {}", errors.join("; ")))
    }
}

/// A YAML file as a JSON value.
pub fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn yaml(text: &str) -> Result<Value, String> {
    let v: serde_norway::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// A JSON file as a JSON value.
pub fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
