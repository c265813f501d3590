//! The two pieces every Azure call shares, below both [`super::arm`] and
//! [`super::credential`] (ARM takes tokens from a credential; the credential sends its
//! token requests the same way ARM sends its calls): sending through the HTTP room with
//! the operation named in errors, and reading an Azure error body.

use serde_json::Value;

use super::AzureError;
use crate::clients::http::{self, Http, Retry};

/// Sends the request `build` makes through the HTTP room (its deadline, cap and retry
/// policy); `op` names the operation in errors.
pub(crate) async fn send(
    http: &Http,
    op: &str,
    retry: Retry,
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<http::Response, AzureError> {
    http.send(retry, build)
        .await
        .map_err(|source| AzureError::Net {
            op: op.to_string(),
            source,
        })
}

/// `(code, message)` of an Azure error body: `{"error": {"code", "message"}}` (ARM,
/// Key Vault) or `{"code", "message"}` / `{"message"}`.
pub(crate) fn error_body(text: &str) -> (String, String) {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    let e = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
    let code = e
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .or(v.get("error_description").and_then(Value::as_str))
        .map(String::from)
        .unwrap_or_else(|| text.chars().take(300).collect());
    (code, message)
}
