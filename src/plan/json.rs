//! Setting values deep in a JSON object we built (`json!({...})`) without `IndexMut`,
//! which panics when a step on the way is not an object.

use serde_json::{Value, json};

/// `v[path[0]][path[1]].. = value`, as serde_json's `IndexMut` does it (a missing or null
/// object on the way is made), except that a non-object on the way leaves `v` as it is
/// instead of panicking.
pub fn set(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for key in parents {
        if cur.is_null() {
            *cur = json!({});
        }
        let Some(m) = cur.as_object_mut() else {
            return;
        };
        cur = m.entry(*key).or_insert(Value::Null);
    }
    if cur.is_null() {
        *cur = json!({});
    }
    if let Some(m) = cur.as_object_mut() {
        m.insert((*last).into(), value);
    }
}

/// Appends `items` to the array `key` of `v`, or sets it when there is none.
pub fn extend(v: &mut Value, key: &str, items: Vec<Value>) {
    match v.get_mut(key).and_then(Value::as_array_mut) {
        Some(a) => a.extend(items),
        None => set(v, &[key], Value::Array(items)),
    }
}
