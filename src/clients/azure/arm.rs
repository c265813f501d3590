//! Azure Resource Manager over plain HTTP through the HTTP room (its deadline, size cap
//! and retry policy: 429 with `Retry-After`, 5xx, dropped connections), `nextLink` pagination that never sends the token off the ARM host, and
//! errors that name the operation, and for 403 the missing role and its scope.
//!
//! Two layers: free functions taking a bearer token (what the deploy step calls with a
//! token it already has), and [`Arm`], which gets tokens from a [`Credential`] and
//! retries once with a fresh one after a 401.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::credential::Credential;
pub(crate) use super::wire::{error_body, send};
use super::{AzureError, Forbidden, role_for_action};
use crate::clients::http::{self, Http, Retry};
use crate::secret::Secret;

/// `... perform action 'X' over scope 'Y' ...` from an ARM AuthorizationFailed message
/// (Key Vault says `Action: 'X'`): the quoted text after `word`, any case.
fn quoted_after<'m>(message: &'m str, word: &str) -> Option<&'m str> {
    let lower = message.to_ascii_lowercase();
    let word = word.to_ascii_lowercase();
    lower.match_indices(&word).find_map(|(i, _)| {
        let rest = message[i + word.len()..].trim_start_matches([' ', ':']);
        let rest = rest.strip_prefix('\'')?;
        Some(&rest[..rest.find('\'')?])
    })
}

/// Turns a failed answer into an error; 403 names the role and scope.
pub(crate) fn failure(op: &str, resource: &str, resp: &http::Response) -> AzureError {
    let status = resp.status.as_u16();
    let text = resp.text();
    let (code, message) = error_body(&text);
    let forbidden = (status == 403).then(|| {
        let action = quoted_after(&message, "action").map(String::from);
        let scope = quoted_after(&message, "scope")
            .map(String::from)
            .unwrap_or_else(|| resource.to_string());
        let role = action.as_deref().map(role_for_action).unwrap_or("Reader");
        Box::new(Forbidden {
            action,
            scope,
            role,
        })
    });
    AzureError::Http {
        op: op.to_string(),
        status,
        code: if code.is_empty() {
            String::new()
        } else {
            format!(" ({code})")
        },
        message,
        forbidden,
    }
}

/// One call with a bearer token; JSON in, JSON out. `resource` is the ARM path (for
/// errors); 404 becomes `NotFound` of `what`. ARM's POST `list*` actions
/// (`listClusterUserCredential`) read and change nothing, so they are retried like a GET.
// why: these are the parts of one HTTP request (method, URL, token, body, headers, what it is
// for); a struct for them would be built at every call site only to be taken apart here.
#[allow(clippy::too_many_arguments)]
pub async fn call(
    http: &Http,
    method: Method,
    url: &Url,
    token: &Secret,
    body: Option<&Value>,
    headers: &[(&str, &str)],
    op: &str,
) -> Result<(StatusCode, reqwest::header::HeaderMap, Value), AzureError> {
    let read_only_action = method == Method::POST
        && url
            .path()
            .rsplit('/')
            .next()
            .is_some_and(|action| action.starts_with("list"));
    let retry = if read_only_action {
        Retry::Safe
    } else {
        Retry::ByMethod
    };
    let resp = send(http, op, retry, |c| {
        let mut r = c
            .request(method.clone(), url.clone())
            .bearer_auth(token.expose());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        match body {
            Some(b) => r.json(b),
            None if method == Method::POST => r.header("Content-Length", "0"),
            None => r,
        }
    })
    .await?;
    let status = resp.status;
    if !status.is_success() {
        return Err(failure(op, url.path(), &resp));
    }
    let text = resp.text();
    let v = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| AzureError::Protocol {
            op: op.to_string(),
            message: format!("the answer is not JSON: {e}"),
        })?
    };
    Ok((status, resp.headers, v))
}

/// `endpoint` + `path` + `?api-version=`.
pub fn url(endpoint: &Url, path: &str, api_version: &str, query: &[(&str, &str)]) -> Url {
    let mut u = endpoint.clone();
    let base = u.path().trim_end_matches('/').to_string();
    u.set_path(&format!("{base}{path}"));
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("api-version", api_version);
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    u
}

/// Converts a 404 into `NotFound`.
pub(crate) fn not_found(e: AzureError, what: &'static str, name: &str, scope: &str) -> AzureError {
    match e {
        AzureError::Http {
            status: 404, op, ..
        } => AzureError::NotFound {
            op,
            what,
            name: name.to_string(),
            scope: if scope.is_empty() {
                String::new()
            } else {
                format!(" in {scope}")
            },
        },
        e => e,
    }
}

/// ARM for one subscription, with tokens from a credential.
pub struct Arm<'c> {
    http: Http,
    endpoint: Url,
    scope: String,
    cred: &'c Credential<'c>,
    pub subscription_id: String,
}

impl<'c> Arm<'c> {
    pub fn new(
        http: &Http,
        endpoint: &Url,
        cred: &'c Credential<'c>,
        subscription_id: &str,
    ) -> Self {
        Arm {
            http: http.clone(),
            endpoint: endpoint.clone(),
            scope: arm_scope(endpoint),
            cred,
            subscription_id: subscription_id.to_string(),
        }
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    pub fn credential(&self) -> &'c Credential<'c> {
        self.cred
    }

    /// `/subscriptions/{id}/resourceGroups/{rg}`.
    pub fn rg_path(&self, rg: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{rg}",
            self.subscription_id
        )
    }

    pub async fn token(&self) -> Result<Secret, AzureError> {
        self.cred.token(&self.scope).await
    }

    /// A call; after a 401 the token is renewed and the call made once more.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        op: &str,
    ) -> Result<Value, AzureError> {
        let u = url(&self.endpoint, path, api_version, query);
        self.send_url(method, &u, body, op).await
    }

    async fn send_url(
        &self,
        method: Method,
        u: &Url,
        body: Option<&Value>,
        op: &str,
    ) -> Result<Value, AzureError> {
        let token = self.token().await?;
        match call(&self.http, method.clone(), u, &token, body, &[], op).await {
            Err(AzureError::Http { status: 401, .. }) => {
                self.cred.invalidate(&self.scope).await;
                let token = self.token().await?;
                call(&self.http, method, u, &token, body, &[], op)
                    .await
                    .map(|(_, _, v)| v)
            }
            r => r.map(|(_, _, v)| v),
        }
    }

    pub async fn get(&self, path: &str, api_version: &str, op: &str) -> Result<Value, AzureError> {
        self.send(Method::GET, path, api_version, &[], None, op)
            .await
    }

    /// Every item of a pageable list (`value` + `nextLink`).
    pub async fn list(
        &self,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
        op: &str,
    ) -> Result<Vec<Value>, AzureError> {
        let mut out = Vec::new();
        let mut next = Some(url(&self.endpoint, path, api_version, query));
        let mut pages = 0;
        while let Some(u) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(AzureError::Protocol {
                    op: op.into(),
                    message: "more than 1000 pages; the nextLink loops".into(),
                });
            }
            let v = self.send_url(Method::GET, &u, None, op).await?;
            if let Some(items) = v.get("value").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            if let Some(link) = v
                .get("nextLink")
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty())
            {
                let link = Url::parse(link).map_err(|e| AzureError::Protocol {
                    op: op.into(),
                    message: format!("nextLink is not a URL: {e}"),
                })?;
                // The bearer token goes to the ARM endpoint only.
                if link.origin() != self.endpoint.origin() {
                    return Err(AzureError::Protocol {
                        op: op.into(),
                        message: format!(
                            "nextLink points to {} instead of the ARM endpoint",
                            link.origin().ascii_serialization()
                        ),
                    });
                }
                next = Some(link);
            }
        }
        Ok(out)
    }
}

/// The token scope of an ARM endpoint: `https://management.azure.com/.default`.
pub fn arm_scope(endpoint: &Url) -> String {
    format!("{}/.default", endpoint.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_failed_messages_give_action_and_scope() {
        let m = "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action' over scope '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks' or the scope is invalid.";
        assert_eq!(
            quoted_after(m, "action"),
            Some("Microsoft.ContainerService/managedClusters/listClusterUserCredential/action")
        );
        assert_eq!(
            quoted_after(m, "scope"),
            Some(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks"
            )
        );
    }

    #[test]
    fn urls_keep_the_endpoint_path() {
        let e = Url::parse("http://127.0.0.1:9/arm/").unwrap();
        assert_eq!(
            url(&e, "/subscriptions/s", "2025-04-01", &[("$top", "5")]).as_str(),
            "http://127.0.0.1:9/arm/subscriptions/s?api-version=2025-04-01&%24top=5"
        );
        assert_eq!(
            arm_scope(&Url::parse("https://management.azure.com").unwrap()),
            "https://management.azure.com/.default"
        );
    }
}
