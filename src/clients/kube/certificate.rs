//! Waiting for cert-manager: the Certificate that its ingress-shim makes for our
//! Ingress (named after the TLS secret) becomes Ready once Let's Encrypt answered.

use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::KubeError;

/// `Ok(true)` once Ready, `Ok(false)` when the deadline passed first.
pub async fn wait_ready(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    deadline: Instant,
) -> Result<bool, KubeError> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
        "certificates",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    loop {
        match api.get_opt(name).await {
            Ok(Some(c)) => {
                let ready = c
                    .data
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                if ready {
                    return Ok(true);
                }
            }
            Ok(None) => {}
            Err(e) => {
                let e = KubeError::from_kube(format!("Certificate/{name}"), e);
                if !e.is_transient() {
                    return Err(e);
                }
            }
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
