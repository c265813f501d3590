//! AKS: the cluster, and a kubeconfig without `az` or `kubelogin`.
//!
//! `listClusterUserCredential` gives the server and its CA. For clusters with Entra ID
//! integration the user entry is an exec plugin (kubelogin); it is replaced by a token
//! for the AKS server application, minted in-process by the same credential.

use base64::Engine;
use serde_json::Value;

use super::AzureError;
use super::arm::{Arm, not_found};
use crate::secret::Secret;

pub const AKS_API: &str = "2026-08-01";

#[derive(Clone, Debug, serde::Serialize)]
pub struct Cluster {
    pub id: String,
    pub name: String,
    pub fqdn: Option<String>,
    /// Entra ID integration (`aadProfile`): kubeconfigs carry an exec plugin.
    pub entra_id: bool,
    pub local_accounts_disabled: bool,
}

fn op(what: &str) -> String {
    format!("{what} of the AKS cluster")
}

pub async fn cluster(arm: &Arm<'_>, rg: &str, name: &str) -> Result<Cluster, AzureError> {
    let path = cluster_path(arm, rg, name);
    let v = arm
        .get(&path, AKS_API, &op("reading"))
        .await
        .map_err(|e| not_found(e, "AKS cluster", name, &format!("resource group {rg}")))?;
    let p = |key: &str| v.get("properties").and_then(|p| p.get(key));
    Ok(Cluster {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&path)
            .to_string(),
        name: name.to_string(),
        fqdn: p("fqdn")
            .and_then(Value::as_str)
            .or(p("privateFQDN").and_then(Value::as_str))
            .map(String::from),
        entra_id: p("aadProfile").is_some_and(Value::is_object),
        local_accounts_disabled: p("disableLocalAccounts")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn cluster_path(arm: &Arm<'_>, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.ContainerService/managedClusters/{name}",
        arm.rg_path(rg)
    )
}

/// The first kubeconfig `listClusterUserCredential` returns (a secret: it may carry a
/// client key or token).
pub async fn user_kubeconfig(arm: &Arm<'_>, rg: &str, name: &str) -> Result<Secret, AzureError> {
    let path = format!("{}/listClusterUserCredential", cluster_path(arm, rg, name));
    let o = op("listing the user credentials");
    let v = arm
        .send(reqwest::Method::POST, &path, AKS_API, &[], None, &o)
        .await
        .map_err(|e| not_found(e, "AKS cluster", name, &format!("resource group {rg}")))?;
    let b64 = v
        .pointer("/kubeconfigs/0/value")
        .and_then(Value::as_str)
        .ok_or_else(|| AzureError::Protocol {
            op: o.clone(),
            message: "no kubeconfigs[0].value".into(),
        })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| AzureError::Protocol {
            op: o.clone(),
            message: format!("the kubeconfig is not base64: {e}"),
        })?;
    String::from_utf8(bytes)
        .map(Secret::new)
        .map_err(|_| AzureError::Protocol {
            op: o,
            message: "the kubeconfig is not UTF-8".into(),
        })
}

/// How a kubeconfig's user signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserAuth {
    ClientCertificate,
    Token,
    Exec,
    Other,
}

/// What a kubeconfig says about its current cluster and user.
#[derive(Clone, Debug)]
pub struct KubeInfo {
    pub server: String,
    pub ca_data: Option<String>,
    pub auth: UserAuth,
    /// Values in it that must be masked (keys, tokens).
    pub secrets: Vec<Secret>,
}

fn yaml(text: &str, what: &str) -> Result<Value, AzureError> {
    serde_norway::from_str(text).map_err(|e| AzureError::Protocol {
        op: what.into(),
        message: format!("the kubeconfig is not YAML: {e}"),
    })
}

/// A kubeconfig as text; Key Vault secrets sometimes hold it base64-encoded.
pub fn decode_kubeconfig(value: &Secret) -> Secret {
    let t = value.expose().trim();
    if t.contains("apiVersion") || t.contains("clusters") {
        return value.clone();
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Secret::new)
        .unwrap_or_else(|| value.clone())
}

pub fn inspect(kubeconfig: &Secret) -> Result<KubeInfo, AzureError> {
    let what = "reading the kubeconfig";
    let v = yaml(kubeconfig.expose(), what)?;
    fn name_of(e: &Value) -> Option<&str> {
        e.get("name").and_then(Value::as_str)
    }
    let current = v.get("current-context").and_then(Value::as_str);
    let ctx = v
        .get("contexts")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|c| current.is_some() && name_of(c) == current)
                .or(a.first())
        })
        .and_then(|c| c.get("context").cloned())
        .unwrap_or(Value::Null);
    let pick = |list: &str, key: &str| {
        v.get(list).and_then(Value::as_array).and_then(|a| {
            let want = ctx.get(key).and_then(Value::as_str);
            a.iter()
                .find(|e| want.is_some() && name_of(e) == want)
                .or(a.first())
                .cloned()
        })
    };
    let cluster = pick("clusters", "cluster").ok_or_else(|| AzureError::Protocol {
        op: what.into(),
        message: "no cluster in the kubeconfig".into(),
    })?;
    let server = cluster
        .pointer("/cluster/server")
        .and_then(Value::as_str)
        .ok_or_else(|| AzureError::Protocol {
            op: what.into(),
            message: "the kubeconfig's cluster has no server".into(),
        })?
        .to_string();
    let user = pick("users", "user")
        .and_then(|u| u.get("user").cloned())
        .unwrap_or(Value::Null);
    let mut secrets = Vec::new();
    for k in ["client-key-data", "token", "password"] {
        if let Some(s) = user.get(k).and_then(Value::as_str) {
            secrets.push(Secret::new(s));
        }
    }
    let is_string = |k: &str| user.get(k).is_some_and(Value::is_string);
    let auth = if is_string("client-certificate-data") || is_string("client-certificate") {
        UserAuth::ClientCertificate
    } else if is_string("token") {
        UserAuth::Token
    } else if user.get("exec").is_some_and(Value::is_object) {
        UserAuth::Exec
    } else {
        UserAuth::Other
    };
    Ok(KubeInfo {
        server,
        ca_data: cluster
            .pointer("/cluster/certificate-authority-data")
            .and_then(Value::as_str)
            .map(String::from),
        auth,
        secrets,
    })
}

/// The kubeconfig with every user signing in with `token` (no exec plugin).
pub fn with_token(kubeconfig: &Secret, token: &Secret) -> Result<Secret, AzureError> {
    let what = "rewriting the kubeconfig";
    let mut v = yaml(kubeconfig.expose(), what)?;
    // `get_mut`/`as_object_mut`, not `v["users"]`: indexing a kubeconfig that is not a
    // mapping panics (found by the kubeconfig fuzz target).
    if let Some(users) = v.get_mut("users").and_then(|u| u.as_array_mut()) {
        for u in users.iter_mut().filter_map(|u| u.as_object_mut()) {
            u.insert(
                "user".into(),
                serde_json::json!({ "token": token.expose() }),
            );
        }
    }
    let text = serde_norway::to_string(&v).map_err(|e| AzureError::Protocol {
        op: what.into(),
        message: e.to_string(),
    })?;
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC: &str = "apiVersion: v1\nkind: Config\ncurrent-context: aks\nclusters:\n- name: aks\n  cluster:\n    server: https://aks.hcp.example:443\n    certificate-authority-data: Q0E=\ncontexts:\n- name: aks\n  context: {cluster: aks, user: u}\nusers:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: kubelogin}\n";

    #[test]
    fn fuzz_kubeconfig_that_is_not_a_mapping_does_not_panic() {
        for text in ["just a string", "users: [a, 1]", "- 1\n- 2"] {
            let _ = with_token(&Secret::new(text), &Secret::new("tok"));
            let _ = inspect(&Secret::new(text));
        }
    }

    #[test]
    fn exec_users_are_replaced_by_a_token() {
        let k = Secret::new(EXEC);
        let info = inspect(&k).unwrap();
        assert_eq!(info.server, "https://aks.hcp.example:443");
        assert_eq!(info.auth, UserAuth::Exec);
        let t = with_token(&k, &Secret::new("tok")).unwrap();
        let info = inspect(&t).unwrap();
        assert_eq!(info.auth, UserAuth::Token);
        assert_eq!(info.ca_data.as_deref(), Some("Q0E="));
        assert!(!t.expose().contains("kubelogin"));
    }

    #[test]
    fn base64_kubeconfigs_are_decoded() {
        let b = base64::engine::general_purpose::STANDARD.encode(EXEC);
        assert_eq!(decode_kubeconfig(&Secret::new(b)).expose(), EXEC);
    }
}
